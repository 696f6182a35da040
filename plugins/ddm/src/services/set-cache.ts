import { type DeclarationTarget, GenerationCache, type PluginContext } from 'enrollment-gateway/sdk';
import type { DdmConfig } from '../config.js';
import type { DeclarationSet } from '../protocol/declarations.js';
import type { DeclarationSets } from './declaration-sets.js';

/** A device's computed set and what it was computed for. */
export interface DeviceSet {
  target?: DeclarationTarget;
  set: DeclarationSet;
}

/**
 * The sets devices sync against, kept per device in Redis (shared by every replica) for `setCacheSeconds`. A sync
 * is 3 + N requests (tokens, declaration-items, each declaration, status); computing the set for each means reading
 * the device, its enrollment, its user, the settings and every contributor N + 2 times. With the cache the set is
 * computed once: by the re-sync that told the device to come (`refresh`), or by the sync's first request.
 *
 * What changes a set reaches it as follows: every re-sync (`requestSync`: settings saves, a contributor's data,
 * a user's groups, enrollment) computes the set again and replaces the entry before the device is told; an entry
 * counts only for the enrollment it was computed for; leaving management drops it (`drop`). A change that nothing
 * announces (a contributor that does not call `requestSync`, an OS version learned from DeviceInformation) reaches
 * the device's own syncs within `setCacheSeconds`. Entries are the generation
 * cache's (core/sdk/generation-cache.ts): a computation racing a refresh cannot put the older set back.
 */
export class SetCache {
  private readonly cache?: GenerationCache<DeviceSet>;

  constructor(
    private readonly sets: DeclarationSets,
    private readonly ctx: PluginContext<DdmConfig>,
  ) {
    if (ctx.config.setCacheSeconds > 0)
      this.cache = new GenerationCache<DeviceSet>({
        redis: ctx.redis,
        prefix: `${ctx.redisKeyPrefix}sets:`,
        ttlSeconds: ctx.config.setCacheSeconds,
      });
  }

  /** For the device's own requests: the entry of its current enrollment, else computed and kept. */
  async forSync(deviceId: string, enrollmentId: string | undefined): Promise<DeviceSet> {
    if (!this.cache) return this.sets.forDevice(deviceId);
    const found = await this.cache.lookup(deviceId);
    if (found.hit && found.value.target?.enrollmentId === enrollmentId) return found.value;
    const computed = await this.sets.forDevice(deviceId);
    if (!found.hit) await this.cache.store(deviceId, computed, found.generation);
    return computed;
  }

  /** Something changed: the set is computed again, and the device's next requests get this one. */
  async refresh(deviceId: string): Promise<DeviceSet> {
    if (!this.cache || !(await this.drop(deviceId))) return this.sets.forDevice(deviceId);
    const found = await this.cache.lookup(deviceId);
    const computed = await this.sets.forDevice(deviceId);
    if (!found.hit) await this.cache.store(deviceId, computed, found.generation);
    return computed;
  }

  /** Forgets the device's entry; false when Redis could not be told (entries then live out their time). */
  async drop(deviceId: string): Promise<boolean> {
    if (!this.cache) return true;
    try {
      await this.cache.invalidate(deviceId);
      return true;
    } catch (error) {
      this.ctx.logger.warn({ err: { message: (error as Error).message }, deviceId }, 'DDM set cache not dropped');
      return false;
    }
  }
}
