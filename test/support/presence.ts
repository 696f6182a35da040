import type { Redis } from 'ioredis';
import { eventually } from './eventually.js';

/**
 * Waits until the mdm plugin's presence flush has written every mark made so far (its marks and the set being
 * flushed are both gone): a test that sets lastSeenAt itself, to stand for time passing, does so after this, or a
 * flush of the device's earlier requests would write over it.
 */
export async function presenceFlushed(redis: Redis, prefix: string, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    const pending = await redis.exists(`${prefix}presence:marks`, `${prefix}presence:flushing`);
    if (pending > 0) throw new Error('presence marks not flushed yet');
  }, timeoutMs);
}
