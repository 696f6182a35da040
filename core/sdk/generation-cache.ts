import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withTimeout } from './timeout.js';

export interface GenerationCacheOptions<T> {
  /** A shared command connection (ctx.redis). */
  redis: Redis;
  /** Prefix of every key, e.g. `${ctx.redisKeyPrefix}users:`. */
  prefix: string;
  /** How long an entry lives; bounds only writes made behind the cache's back. */
  ttlSeconds: number;
  /**
   * 'per-key' (default): each key has its own generation, moved by `invalidate(key)`. 'shared': one generation
   * for every key, moved by `invalidate()` — for rare writes whose keys are hard to list.
   */
  scope?: 'per-key' | 'shared';
  /** Longest wait for Redis; past it the cache is bypassed (default 250 ms). */
  waitMs?: number;
  /** Turns a value read back from JSON into T again (Dates come back as strings). Default: as parsed. */
  revive?: (parsed: unknown) => T;
}

/** A lookup: the cached value, or the generation to store a database answer under (undefined: do not store). */
export type GenerationLookup<T> = { hit: true; value: T } | { hit: false; generation: string | undefined };

/** Stores the entry only if the generation is still the one the reader saw before reading the database. */
const SET_IF_CURRENT = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1`;

/** Outlives every entry by far, so a per-key generation never disappears under a live entry. */
const GENERATION_SECONDS = 86_400;

const newGeneration = () => randomBytes(9).toString('base64url');

/**
 * A read-through Redis cache that a write can never be undone by: every write moves a generation (random,
 * never reused), an entry counts only while it carries the current one, and a reader stores what it read from
 * the database only if the generation did not move meanwhile (checked in Redis, atomically). So a lookup racing
 * a revocation cannot put the old value back, on any replica. Redis trouble bypasses the cache: callers then
 * read the database. Use `getOrLoad`, or `lookup` + `store` when the database read happens elsewhere.
 */
export class GenerationCache<T> {
  private readonly scope: 'per-key' | 'shared';
  private readonly waitMs: number;

  constructor(private readonly options: GenerationCacheOptions<T>) {
    this.scope = options.scope ?? 'per-key';
    this.waitMs = options.waitMs ?? 250;
  }

  private generationKey(key: string): string {
    return this.scope === 'shared' ? `${this.options.prefix}gen` : `${this.options.prefix}gen:${key}`;
  }

  private entryKey(key: string): string {
    return `${this.options.prefix}entry:${key}`;
  }

  private redis<R>(call: (redis: Redis) => Promise<R>): Promise<R> {
    return withTimeout(() => call(this.options.redis), this.waitMs, 'redis');
  }

  async lookup(key: string): Promise<GenerationLookup<T>> {
    if (this.options.redis.status !== 'ready') return { hit: false, generation: undefined };
    try {
      const generationKey = this.generationKey(key);
      const [generation, raw] = await this.redis((r) => r.mget(generationKey, this.entryKey(key)));
      if (generation === null) {
        // First use, or Redis lost it: start a generation; entries are stored from the next lookup on.
        await this.redis((r) => r.set(generationKey, newGeneration(), 'EX', GENERATION_SECONDS, 'NX'));
        return { hit: false, generation: undefined };
      }
      if (raw) {
        const entry = JSON.parse(raw) as { generation: string; value: unknown };
        if (entry.generation === generation) {
          return { hit: true, value: this.options.revive ? this.options.revive(entry.value) : (entry.value as T) };
        }
      }
      return { hit: false, generation };
    } catch {
      return { hit: false, generation: undefined };
    }
  }

  /** Stores `value` unless the generation moved since `generation` was read; false when it did not store. */
  async store(key: string, value: T, generation: string | undefined): Promise<boolean> {
    if (generation === undefined || this.options.redis.status !== 'ready') return false;
    const entry = JSON.stringify({ generation, value });
    const { ttlSeconds } = this.options;
    try {
      const stored = await this.redis((r) =>
        r.eval(SET_IF_CURRENT, 2, this.generationKey(key), this.entryKey(key), generation, entry, ttlSeconds),
      );
      return stored === 1;
    } catch {
      return false;
    }
  }

  /** The cached value, or `load()`'s answer (stored when it is not undefined and no write came meanwhile). */
  async getOrLoad(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const found = await this.lookup(key);
    if (found.hit) return found.value;
    const value = await load();
    if (value !== undefined) await this.store(key, value, found.generation);
    return value;
  }

  /**
   * Call after every write: entries read before it are dead from now on (per key, or every entry when the
   * scope is shared and `key` is left out). Throws when Redis cannot be told; the caller decides whether to
   * retry (entries then live at most `ttlSeconds`).
   */
  async invalidate(key = ''): Promise<void> {
    const generationKey = this.generationKey(key);
    await this.redis((r) => {
      const multi = r.multi().set(generationKey, newGeneration(), 'EX', GENERATION_SECONDS);
      if (this.scope === 'per-key') multi.del(this.entryKey(key));
      return multi.exec();
    });
  }
}
