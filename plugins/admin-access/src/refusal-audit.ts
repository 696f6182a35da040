import { createHash } from 'node:crypto';
import type { AuditEntry, AuditLog } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import { z } from 'zod';

export const auditSettingsSchema = z
  .object({
    retentionDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(400)
      .describe('Audit entries older than this are deleted (a daily job)'),
    refusalRetentionDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(30)
      .describe('Entries of refused credentials (api-key.refused…) older than this are deleted'),
    refusalWindowSeconds: z
      .number()
      .int()
      .min(10)
      .max(86_400)
      .default(300)
      .describe('Refused credentials are counted per source and window: one entry first, one summary after'),
    refusalSourcesPerWindow: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(200)
      .describe('Sources recorded on their own per window; refusals from any further source share one "other" count'),
  })
  .strict()
  .prefault({});

export type AuditSettings = z.output<typeof auditSettingsSchema>;

/** The refused-credential actions, pruned after refusalRetentionDays. */
export const REFUSAL_ACTION_PREFIX = 'api-key.refused';

/** Longest text of a caller's choosing that an entry keeps (the path, the method). */
export const MAX_FIELD_CHARS = 200;

export interface Refusal {
  /** The client address. */
  source: string;
  keyId?: string;
  keyName?: string;
  reason: string;
  method: string;
  path: string;
  requestId?: string;
}

/** The summary of one source and window, written once the window is over. */
export interface RefusalSummaryJob {
  kind: 'refusal-summary';
  window: number;
  source: string;
  counter: string;
  first: Omit<Refusal, 'requestId'>;
}

export const truncated = (text: string, max = MAX_FIELD_CHARS): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`;

const digest = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 16);

/**
 * Audit entries for refused credentials, bounded: per source and window, the first refusal is recorded at once
 * (fields truncated) and the rest are only counted in Redis; a job at the window's end records one summary with
 * the count. A flood of bad keys from one address costs at most two entries a window, and at most
 * `refusalSourcesPerWindow` + 1 sources get entries of their own in a window.
 */
export class RefusalAudit {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly audit: () => AuditLog,
    private readonly settings: AuditSettings,
    private readonly scheduleSummary: (job: RefusalSummaryJob, runAt: number, jobId: string) => Promise<void>,
  ) {}

  async refused(refusal: Refusal): Promise<void> {
    const windowMs = this.settings.refusalWindowSeconds * 1000;
    const window = Math.floor(Date.now() / windowMs);
    const ttl = this.settings.refusalWindowSeconds * 3;
    let source = truncated(refusal.source, 64);
    let counter = `${this.keyPrefix}refusals:${window}:${digest(`${source}|${bucketOf(refusal)}`)}`;
    let count = await this.increment(counter, ttl);
    if (count === 1) {
      const sources = await this.increment(`${this.keyPrefix}refusals:${window}:sources`, ttl);
      if (sources > this.settings.refusalSourcesPerWindow) {
        source = 'other';
        counter = `${this.keyPrefix}refusals:${window}:other`;
        count = await this.increment(counter, ttl);
      }
    }
    if (count !== 1) return;
    const first = {
      source,
      keyId: refusal.keyId === undefined ? undefined : truncated(refusal.keyId, 40),
      keyName: refusal.keyName === undefined ? undefined : truncated(refusal.keyName, 100),
      reason: truncated(refusal.reason, 40),
      method: truncated(refusal.method, 16),
      path: truncated(refusal.path),
    };
    await this.audit().record(
      entryOf(first, 'api-key.refused', { count: 1, windowStart: new Date(window * windowMs) }, refusal.requestId),
    );
    await this.scheduleSummary(
      { kind: 'refusal-summary', window, source, counter, first },
      (window + 1) * windowMs,
      `refusals.${window}.${counter.slice(counter.lastIndexOf(':') + 1)}`,
    );
  }

  /** Run by the summary job once the window is over: one entry with the count, when there was more than one. */
  async summarize(job: RefusalSummaryJob): Promise<number> {
    const count = Number((await this.redis.get(job.counter)) ?? 0);
    if (count <= 1) return count;
    const windowMs = this.settings.refusalWindowSeconds * 1000;
    await this.audit().record(
      entryOf(job.first, 'api-key.refused.summary', {
        count,
        windowStart: new Date(job.window * windowMs),
        windowEnd: new Date((job.window + 1) * windowMs),
      }),
    );
    return count;
  }

  private async increment(key: string, ttlSeconds: number): Promise<number> {
    const count = await this.redis.incr(key);
    if (count === 1) await this.redis.expire(key, ttlSeconds);
    return count;
  }
}

/**
 * Refusals are counted per source, key and reason: a key that exists (wrong secret, revoked, expired) by its id
 * (as many as there are keys), every unknown or malformed key together, so guessing random ids adds nothing.
 */
function bucketOf(refusal: Refusal): string {
  const known = refusal.keyName !== undefined && refusal.keyId !== undefined;
  return `${known ? refusal.keyId : 'unrecognised'}|${truncated(refusal.reason, 40)}`;
}

function entryOf(
  first: Omit<Refusal, 'requestId'>,
  action: string,
  counts: Record<string, unknown>,
  requestId?: string,
): AuditEntry {
  return {
    actor: {
      id: `api-key:${first.keyId ?? 'unknown'}`,
      kind: 'api-key',
      displayName: first.keyName ?? 'unrecognised key',
    },
    action,
    target: { type: 'api-key', id: first.keyId ?? 'malformed' },
    after: { reason: first.reason, method: first.method, path: first.path, source: first.source, ...counts },
    requestId,
  };
}
