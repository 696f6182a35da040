import { type DeclarationTarget, GenerationCache, type PluginContext, withTimeout } from 'enrollment-gateway/sdk';
import type { DdmConfig } from '../config.js';
import type { DeclarationSet } from '../protocol/declarations.js';
import type { DeclarationSets } from './declaration-sets.js';

/** A device's computed set and what it was computed for. */
export interface DeviceSet {
  target?: DeclarationTarget;
  set: DeclarationSet;
}

/** An entry: the set, and the epoch it was computed in (`dropAll` starts a new one). */
interface Entry extends DeviceSet {
  epoch: string;
}

/**
 * The sets devices sync against, kept per device in Redis (shared by every replica) for `setCacheSeconds`. A sync
 * is 3 + N requests (tokens, declaration-items, each declaration, status); computing the set for each means reading
 * the device, its enrollment, its user, the settings and every contributor N + 2 times. With the cache the set is
 * computed once: by the re-sync that told the device to come (`refresh`), or by the sync's first request.
 *
 * What changes a set reaches it as follows: every re-sync (`requestSync`: settings saves, a contributor's data,
 * a user's groups, enrollment) computes the set again and replaces the entry before the device is told; an entry
 * counts only for the enrollment it was computed for and in the epoch it was computed in; a change for every
 * device (a settings save, `requestSyncAll`) starts a new epoch before the re-sync job walks the devices, so no
 * device syncs against a set (or a legacy profile URL) from before it; leaving management drops it (`drop`). A change that nothing
 * announces (a contributor that does not call `requestSync`, an OS version learned from DeviceInformation) reaches
 * the device's own syncs within `setCacheSeconds`. Entries are the generation
 * cache's (core/sdk/generation-cache.ts): a computation racing a refresh cannot put the older set back.
 */
export class SetCache {
  private readonly cache?: GenerationCache<Entry>;
  private readonly epochKey: string;

  constructor(
    private readonly sets: DeclarationSets,
    private readonly ctx: PluginContext<DdmConfig>,
  ) {
    this.epochKey = `${ctx.redisKeyPrefix}sets:epoch`;
    if (ctx.config.setCacheSeconds > 0)
      this.cache = new GenerationCache<Entry>({
        redis: ctx.redis,
        prefix: `${ctx.redisKeyPrefix}sets:`,
        ttlSeconds: ctx.config.setCacheSeconds,
      });
  }

  /** For the device's own requests: the entry of its current enrollment, else computed and kept. */
  async forSync(deviceId: string, enrollmentId: string | undefined): Promise<DeviceSet> {
    if (!this.cache) return this.sets.forDevice(deviceId);
    const [epoch, found] = await Promise.all([this.epoch(), this.cache.lookup(deviceId)]);
    if (epoch === undefined) return this.sets.forDevice(deviceId);
    if (found.hit && found.value.epoch === epoch && found.value.target?.enrollmentId === enrollmentId)
      return found.value;
    const computed = await this.sets.forDevice(deviceId);
    if (!found.hit) await this.cache.store(deviceId, { ...computed, epoch }, found.generation);
    return computed;
  }

  /** Something changed: the set is computed again, and the device's next requests get this one. */
  async refresh(deviceId: string): Promise<DeviceSet> {
    const epoch = await this.epoch();
    if (!this.cache || epoch === undefined || !(await this.drop(deviceId))) return this.sets.forDevice(deviceId);
    const found = await this.cache.lookup(deviceId);
    const computed = await this.sets.forDevice(deviceId);
    if (!found.hit) await this.cache.store(deviceId, { ...computed, epoch }, found.generation);
    return computed;
  }

  /**
   * Every entry is dead from now on (a change for every device). Throws when Redis cannot be told: the caller's
   * change must then fail rather than leave devices syncing against older sets.
   */
  async dropAll(): Promise<void> {
    if (this.cache) await withTimeout(() => this.ctx.redis.incr(this.epochKey), 1000, 'redis');
  }

  /** The current epoch; undefined when Redis does not answer (the cache is not used then). */
  private async epoch(): Promise<string | undefined> {
    if (!this.cache) return undefined;
    try {
      return (await withTimeout(() => this.ctx.redis.get(this.epochKey), 250, 'redis')) ?? '0';
    } catch {
      return undefined;
    }
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
