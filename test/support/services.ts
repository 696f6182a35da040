import { randomBytes } from 'node:crypto';

/** The servers `npm test` started or was given (scripts/test.ts). */
export function testServices(): { mongodbBase: string; redisUrl: string } {
  const mongodb = process.env.MONGODB_URI;
  const redis = process.env.REDIS_URL;
  if (!mongodb || !redis) throw new Error('run the tests with `npm test`, which provides MONGODB_URI and REDIS_URL');
  return { mongodbBase: mongodb, redisUrl: redis };
}

/** A database of its own for each test file (or gateway), on the shared server. */
export function uniqueDatabaseUri(label: string): string {
  const url = new URL(testServices().mongodbBase);
  const safe = label
    .replace(/[^a-z0-9]/gi, '')
    .slice(0, 20)
    .toLowerCase();
  url.pathname = `/t_${safe}_${randomBytes(4).toString('hex')}`;
  return url.toString();
}

export function uniqueRedisPrefix(label: string): string {
  return `t-${label
    .replace(/[^a-z0-9]/gi, '')
    .slice(0, 12)
    .toLowerCase()}-${randomBytes(3).toString('hex')}`;
}

export const testMasterKey = Buffer.alloc(32, 7).toString('base64');
