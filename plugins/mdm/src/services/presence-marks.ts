import { withRedisLock } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PresenceStore } from '../storage/presence-store.js';
import { runScript } from './redis-script.js';

/** Sightings written to the database per step of a flush. */
const FLUSH_CHUNK = 500;
/** How long one flush may hold the lock: far beyond a flush of 100,000 marks on FerretDB (a few group updates). */
const FLUSH_LOCK_MS = 10 * 60_000;

/**
 * Takes the next chunk to write: the marks being flushed (left by a flush that stopped), else the marks so far,
 * moved aside in one step so new marks go to a fresh set while they are written.
 * KEYS: marks, marks being flushed. ARGV: chunk size.
 */
const TAKE = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.call('RENAME', KEYS[1], KEYS[2])
end
return redis.call('ZRANGE', KEYS[2], 0, ARGV[1] - 1, 'WITHSCORES')`;

/**
 * Drops the written marks from the set being flushed, each only if it is not newer than what was written.
 * KEYS: marks being flushed. ARGV: member, score, member, score, …
 */
const DROP_WRITTEN = `
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[i + 1]) then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return 1`;

/**
 * When devices were last seen (mdm_presence), kept off the device request path: a request marks its device in a
 * Redis sorted set (ZADD GT, the newest time wins; the binding cache's lookup does it in its own round trip), and
 * the work role's flush job writes the marks to the database every `presenceFlushSeconds`, the record's one
 * writer. A poll therefore writes nothing for presence, and the database sees one write per device per flush
 * however often it polled. lastSeenAt feeds the 90-day activity rule, the wake sweep and the device lists, which
 * need minutes, not seconds.
 *
 * One flush at a time across work replicas (a Redis lock: a BullMQ job scheduler starts the next run when a run
 * becomes active, so a slow flush could overlap the next on another replica, and two writers of one record lose
 * updates on FerretDB). A flush that stops half-way leaves its marks aside; the next flush writes them first
 * (writing a mark twice changes nothing), and a mark is dropped only if it is not newer than what was written.
 * Marks made while Redis is unreachable are lost: the device is seen at its next request.
 */
export class PresenceMarks {
  /** The sorted set of marks: member device id, score the time seen (ms). */
  readonly key: string;
  private readonly flushingKey: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly store: PresenceStore,
    private readonly logger: Logger,
  ) {
    this.key = `${prefix}presence:marks`;
    this.flushingKey = `${prefix}presence:flushing`;
  }

  /** Marks the device as seen now (best effort: a lost mark is made again by the device's next request). */
  async mark(deviceId: string): Promise<void> {
    try {
      await this.redis.zadd(this.key, 'GT', Date.now(), deviceId);
    } catch (error) {
      this.logger.debug({ err: { message: (error as Error).message }, deviceId }, 'presence mark lost');
    }
  }

  /**
   * Writes every mark made so far to the database. Returns how many were written, or undefined when another
   * replica's flush is running.
   */
  async flush(): Promise<number | undefined> {
    return withRedisLock(this.redis, `${this.key}:flush-lock`, FLUSH_LOCK_MS, async () => {
      let written = 0;
      for (;;) {
        const flat = (await runScript(this.redis, TAKE, 2, this.key, this.flushingKey, FLUSH_CHUNK)) as string[];
        if (flat.length === 0) return written;
        const sightings = [];
        for (let i = 0; i < flat.length; i += 2)
          sightings.push({ deviceId: flat[i], at: new Date(Number(flat[i + 1])) });
        await this.store.recordSightings(sightings);
        await runScript(this.redis, DROP_WRITTEN, 1, this.flushingKey, ...flat);
        written += sightings.length;
      }
    });
  }
}
