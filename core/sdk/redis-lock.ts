import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Deletes the lock only while it is still this holder's. */
const RELEASE_IF_HELD = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Runs `work` only where no other holder has `key` (across every replica sharing Redis), and returns its result;
 * undefined when another holder has it. The lock expires after `ttlMs` (a holder that died does not hold it for
 * ever) and is released only by its own holder: work that outlived `ttlMs` does not release the next holder's.
 * Size `ttlMs` well above the longest run; work that must never overlap should also tolerate a rerun.
 */
export async function withRedisLock<T>(
  redis: Redis,
  key: string,
  ttlMs: number,
  work: () => Promise<T>,
): Promise<T | undefined> {
  const holder = randomUUID();
  if ((await redis.set(key, holder, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
  try {
    return await work();
  } finally {
    await redis.eval(RELEASE_IF_HELD, 1, key, holder);
  }
}
