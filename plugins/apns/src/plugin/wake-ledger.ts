import type { Redis } from 'ioredis';

/**
 * Devices waiting for a push, in Redis: a sorted set of device ids scored by when their push is due, plus one
 * "in flight" set per push job. Adding a device that is already waiting changes nothing (ZADD NX), which is the
 * per-device coalescing: ten wakes inside the window, one push. A job claims due devices atomically into its own
 * in-flight set and clears it only after every push of the batch has an outcome, so a worker killed mid-batch
 * leaves the batch for whichever worker retakes the job (BullMQ stalled-job recovery).
 */
export class WakeLedger {
  private readonly pendingKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.pendingKey = `${prefix}wake:pending`;
    redis.defineCommand('apnsClaimDue', {
      numberOfKeys: 2,
      lua: `
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        if #ids > 0 then
          redis.call('ZREM', KEYS[1], unpack(ids))
          redis.call('SADD', KEYS[2], unpack(ids))
          redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
        end
        return ids`,
    });
  }

  private inflightKey(jobId: string): string {
    return `${this.prefix}wake:inflight:${jobId}`;
  }

  /** Adds devices due at `dueMs`; a device already waiting keeps its earlier due time. */
  async add(
    deviceIds: readonly string[],
    dueMs: number,
    mode: 'keep-earlier' | 'replace' = 'keep-earlier',
  ): Promise<void> {
    const chunk = 2000;
    const pipeline = this.redis.pipeline();
    for (let i = 0; i < deviceIds.length; i += chunk) {
      const args: string[] = [];
      for (const id of deviceIds.slice(i, i + chunk)) args.push(String(dueMs), id);
      if (mode === 'keep-earlier') pipeline.zadd(this.pendingKey, 'NX', ...args);
      else pipeline.zadd(this.pendingKey, ...args);
    }
    const results = await pipeline.exec();
    for (const [error] of results ?? []) if (error) throw error;
  }

  /** Moves up to `limit` devices due by `nowMs` into the job's in-flight set and returns them. */
  async claim(jobId: string, nowMs: number, limit: number): Promise<string[]> {
    const claim = (this.redis as unknown as Record<string, (...args: (string | number)[]) => Promise<string[]>>)
      .apnsClaimDue;
    // The in-flight set outlives any sane job; it only expires if the job itself vanished.
    return claim.call(this.redis, this.pendingKey, this.inflightKey(jobId), nowMs, limit, 7 * 86_400);
  }

  /** Devices a previous run of this job claimed and did not finish (the worker died). */
  leftovers(jobId: string): Promise<string[]> {
    return this.redis.smembers(this.inflightKey(jobId));
  }

  async finish(jobId: string): Promise<void> {
    await this.redis.del(this.inflightKey(jobId));
  }

  /** Due time of the earliest waiting device, if any. */
  async earliestDue(): Promise<number | undefined> {
    const [, score] = await this.redis.zrange(this.pendingKey, '0', '0', 'WITHSCORES');
    return score === undefined ? undefined : Number(score);
  }

  pendingCount(): Promise<number> {
    return this.redis.zcard(this.pendingKey);
  }

  isPending(deviceId: string): Promise<boolean> {
    return this.redis.zscore(this.pendingKey, deviceId).then((score) => score !== null);
  }
}

/**
 * Cluster-wide switches in Redis: the certificate version (bumped on every install, so worker processes rebuild
 * their APNs client at once) and the pause APNs forced on us (403: certificate problem).
 */
export class PushControl {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  certificateVersion(): Promise<string | null> {
    return this.redis.get(`${this.prefix}certificate:version`);
  }

  async bumpCertificateVersion(): Promise<void> {
    await this.redis.incr(`${this.prefix}certificate:version`);
  }

  async pause(reason: string): Promise<void> {
    await this.redis.set(`${this.prefix}paused`, JSON.stringify({ reason, at: new Date().toISOString() }));
  }

  async clearPause(): Promise<void> {
    await this.redis.del(`${this.prefix}paused`);
  }

  async paused(): Promise<{ reason: string; at: string } | undefined> {
    const raw = await this.redis.get(`${this.prefix}paused`);
    return raw ? (JSON.parse(raw) as { reason: string; at: string }) : undefined;
  }
}
