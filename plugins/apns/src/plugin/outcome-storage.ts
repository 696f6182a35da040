import type { Redis } from 'ioredis';

/** Why a push did not reach APNs or APNs refused it; the `reason` label of gateway_apns_pushes_failed_total. */
export type PushFailureReason =
  | 'invalid-token'
  | 'certificate'
  | 'throttled'
  | 'retryable'
  | 'rejected'
  | 'topic-mismatch'
  | 'no-target';

/** One device's push outcome, as the worker saw it. */
export interface DevicePushOutcome {
  deviceId: string;
  result: 'sent' | 'failed';
  reason?: PushFailureReason;
  /** APNs's reason string ("Unregistered", "TooManyRequests") or our explanation. */
  detail?: string;
  /** The HTTP status APNs answered, when it answered. */
  status?: number;
}

/** The last push of one device, as the admin API returns it. */
export interface PushOutcomeDoc {
  result: 'sent' | 'failed';
  reason?: PushFailureReason;
  detail?: string;
  status?: number;
  at: Date;
  lastSentAt?: Date;
}

export interface PushOutcomeStore {
  record(outcomes: readonly DevicePushOutcome[], at: Date): Promise<void>;
  get(deviceId: string): Promise<PushOutcomeDoc | undefined>;
}

/** A device silent this long has its last outcome forgotten (it is diagnostics, not state). */
const OUTCOME_TTL_SECONDS = 30 * 86_400;

/**
 * The last outcome per device in Redis: one hash per device, written only by the push worker, one pipeline per
 * batch (a 1000-device batch costs one round trip, not 1000 database upserts). Each field is set by a single
 * command, so nothing is read back and changed: no update can be lost. Losing Redis loses only this diagnostic.
 */
export class RedisPushOutcomeStore implements PushOutcomeStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    // One call per batch: a 1000-device batch would otherwise cost the worker thousands of client-side commands.
    // A sent push clears the failure fields; lastSentAt survives later failures.
    redis.defineCommand('apnsRecordOutcomes', {
      lua: `
        local ttl = tonumber(ARGV[1])
        for i, key in ipairs(KEYS) do
          local base = 1 + (i - 1) * 5
          local result, at = ARGV[base + 1], ARGV[base + 2]
          if result == 'sent' then
            redis.call('HSET', key, 'result', result, 'at', at, 'lastSentAt', at, 'reason', '', 'detail', '', 'status', '')
          else
            redis.call('HSET', key, 'result', result, 'at', at, 'reason', ARGV[base + 3], 'detail', ARGV[base + 4], 'status', ARGV[base + 5])
          end
          redis.call('EXPIRE', key, ttl)
        end
        return #KEYS`,
    });
  }

  private key(deviceId: string): string {
    return `${this.prefix}push-last:${deviceId}`;
  }

  async record(outcomes: readonly DevicePushOutcome[], at: Date): Promise<void> {
    if (outcomes.length === 0) return;
    const when = at.toISOString();
    const keys = outcomes.map((o) => this.key(o.deviceId));
    const args = outcomes.flatMap(({ result, reason, detail, status }) => [
      result,
      when,
      reason ?? '',
      detail?.slice(0, 500) ?? '',
      status === undefined ? '' : String(status),
    ]);
    const record = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<number>>)
      .apnsRecordOutcomes;
    await record.call(this.redis, keys.length, ...keys, OUTCOME_TTL_SECONDS, ...args);
  }

  async get(deviceId: string): Promise<PushOutcomeDoc | undefined> {
    const hash = await this.redis.hgetall(this.key(deviceId));
    if (!hash.result || !hash.at) return undefined;
    return {
      result: hash.result === 'sent' ? 'sent' : 'failed',
      ...(hash.reason ? { reason: hash.reason as PushFailureReason } : {}),
      ...(hash.detail ? { detail: hash.detail } : {}),
      ...(hash.status ? { status: Number(hash.status) } : {}),
      at: new Date(hash.at),
      ...(hash.lastSentAt ? { lastSentAt: new Date(hash.lastSentAt) } : {}),
    };
  }
}

/** Sums of the recent window, every worker included. */
export interface WindowTotals {
  sent: number;
  failed: Partial<Record<PushFailureReason, number>>;
  lastFailure?: { reason: string; detail?: string; deviceId: string; at: string };
}

const MINUTE_MS = 60_000;

/**
 * Push counts per minute in Redis (one hash per minute, HINCRBY from every worker, kept two days), so the
 * certificate page and the checklist see what the whole cluster did, not what one process saw.
 */
export class PushStatsWindow {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private bucket(minute: number): string {
    return `${this.prefix}push-stats:${minute}`;
  }

  async add(outcomes: readonly DevicePushOutcome[], now: Date): Promise<void> {
    if (outcomes.length === 0) return;
    const counts = new Map<string, number>();
    for (const o of outcomes) {
      const field = o.result === 'sent' ? 'sent' : `failed:${o.reason}`;
      counts.set(field, (counts.get(field) ?? 0) + 1);
    }
    const key = this.bucket(Math.floor(now.getTime() / MINUTE_MS));
    const pipeline = this.redis.pipeline();
    for (const [field, n] of counts) pipeline.hincrby(key, field, n);
    pipeline.expire(key, 2 * 86_400);
    const failure = outcomes.findLast((o) => o.result === 'failed');
    if (failure) {
      pipeline.set(
        `${this.prefix}push-stats:last-failure`,
        JSON.stringify({ reason: failure.reason, detail: failure.detail, deviceId: failure.deviceId, at: now }),
      );
    }
    await pipeline.exec();
  }

  async totals(windowMinutes: number, now = new Date()): Promise<WindowTotals> {
    const last = Math.floor(now.getTime() / MINUTE_MS);
    const pipeline = this.redis.pipeline();
    for (let minute = last - windowMinutes + 1; minute <= last; minute++) pipeline.hgetall(this.bucket(minute));
    pipeline.get(`${this.prefix}push-stats:last-failure`);
    const replies = (await pipeline.exec()) ?? [];
    const totals: WindowTotals = { sent: 0, failed: {} };
    for (const [error, value] of replies.slice(0, -1)) {
      if (error) throw error;
      for (const [field, n] of Object.entries(value as Record<string, string>)) {
        if (field === 'sent') totals.sent += Number(n);
        else {
          const reason = field.slice('failed:'.length) as PushFailureReason;
          totals.failed[reason] = (totals.failed[reason] ?? 0) + Number(n);
        }
      }
    }
    const lastFailure = replies.at(-1)?.[1];
    if (typeof lastFailure === 'string') totals.lastFailure = JSON.parse(lastFailure) as WindowTotals['lastFailure'];
    return totals;
  }
}
