import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

const digests = new Map<string, string>();

/**
 * Runs a Lua script by EVALSHA: the script's 40-byte digest goes over the wire on every call, not its text
 * (the device path runs several scripts per request; sending their text was a visible share of the gateway's CPU
 * in socket writes). When Redis lacks the script (first use, restart, SCRIPT FLUSH) it is sent once by EVAL,
 * which also loads it.
 */
export async function runScript(redis: Redis, script: string, keys: number, ...args: (string | number)[]) {
  let digest = digests.get(script);
  if (!digest) {
    digest = createHash('sha1').update(script).digest('hex');
    digests.set(script, digest);
  }
  try {
    return (await redis.evalsha(digest, keys, ...args)) as unknown;
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return (await redis.eval(script, keys, ...args)) as unknown;
  }
}
