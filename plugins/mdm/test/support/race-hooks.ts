import type { PluginContext } from 'enrollment-gateway/sdk';
import { presenceFlushed } from '../../../../test/support/presence.js';

/**
 * Makes the device's presence old (once earlier marks are flushed) and drops the binding cache, so the next poll
 * reads the binding. Test setup only, before a race starts.
 */
export async function agePresence(ctx: PluginContext<unknown>, deviceId: string): Promise<void> {
  await presenceFlushed(ctx.redis, ctx.redisKeyPrefix);
  await ctx.mongo
    .collection('mdm_presence')
    .updateOne(
      { _id: deviceId as never },
      { $set: { lastSeenAt: new Date(Date.now() - 3_600_000) } },
      { upsert: true },
    );
  await ctx.redis.del(`${ctx.redisKeyPrefix}binding-generation`);
}
