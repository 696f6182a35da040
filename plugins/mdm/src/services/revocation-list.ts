import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { certificateRevocation, enrollmentRevocation, type RevocationDoc } from '../storage/device-records.js';
import { insertOnce, type MdmModels } from '../storage/models.js';
import { crashPoint } from './crash-points.js';

/** The identity a verified signature belongs to: its certificate and that certificate's enrollment. */
export interface SignerCertificate {
  serial: string;
  enrollmentId?: string;
}

/** The revocation ids that refuse this identity: its enrollment's and its certificate's. */
export function revocationIds(certificate: SignerCertificate): string[] {
  const ids = [certificateRevocation(certificate.serial)];
  if (certificate.enrollmentId) ids.push(enrollmentRevocation(certificate.enrollmentId));
  return ids;
}

/** A member the mirror set holds once it was loaded from the database: without it the set proves nothing. */
export const LOADED_MEMBER = '__loaded__';
const REDIS_WAIT_MS = 250;

export class RevocationUnavailableError extends Error {}

/**
 * The revocations (mdm_revocations, insert-only), mirrored in one Redis set so the device path checks them in
 * the Redis round trip it already makes (DeviceBindingCache.lookup) on every replica, whatever a cache holds.
 *
 * - Revoking writes Redis first, then the database: a crash in between leaves the identity refused (the
 *   caller's job retries and records it). A revocation Redis cannot take fails, and is retried: the database
 *   alone is never ahead of the mirror.
 * - The set carries LOADED_MEMBER once it was filled from the database. A Redis that lost its data (restart
 *   without persistence, eviction) lacks it: checks then go to the database, and the set is reloaded.
 * - When Redis is unreachable, checks go to the database (by _id, two keys).
 */
export class RevocationList {
  readonly key: string;
  private reloading?: Promise<void>;

  constructor(
    private readonly models: MdmModels,
    private readonly redis: Redis,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.key = `${prefix}revocations`;
  }

  /** Records a revocation once (idempotent): Redis first, then the database. */
  async revoke(record: { enrollmentId?: string; serial?: string }, reason: string): Promise<{ created: boolean }> {
    const id = record.serial ? certificateRevocation(record.serial) : enrollmentRevocation(record.enrollmentId ?? '');
    if (!record.serial && !record.enrollmentId) throw new Error('a revocation names an enrollment or a certificate');
    try {
      await withDeadline(this.redis.sadd(this.key, id));
    } catch (error) {
      throw new RevocationUnavailableError(`revocation ${id} not recorded: Redis did not take it`, { cause: error });
    }
    await crashPoint('revocation:after-mirror');
    const created = await insertOnce<RevocationDoc>(this.models.revocations, {
      _id: id,
      ...(record.enrollmentId ? { enrollmentId: record.enrollmentId } : {}),
      ...(record.serial ? { serial: record.serial } : {}),
      reason,
      at: new Date(),
    });
    // Had Redis lost its data between the two writes and been reloaded meanwhile, the set would miss this one.
    await withDeadline(this.redis.sadd(this.key, id)).catch(() => undefined);
    return { created };
  }

  /** True when any of these revocation ids is recorded: the mirror when it is loaded, else the database. */
  async isRevoked(ids: readonly string[]): Promise<boolean> {
    if (this.redis.status === 'ready') {
      try {
        const found = await withDeadline(this.redis.smismember(this.key, LOADED_MEMBER, ...ids));
        if (found[0] === 1) return found.slice(1).some((hit) => hit === 1);
        this.reloadSoon();
      } catch (error) {
        this.logger.debug({ err: { message: (error as Error).message } }, 'revocation mirror unavailable');
      }
    }
    return this.inDatabase(ids);
  }

  inDatabase(ids: readonly string[]): Promise<boolean> {
    return this.models.revocations.exists({ _id: { $in: [...ids] } }).then((hit) => Boolean(hit));
  }

  /** Fills the mirror from the database (once at a time per process); LOADED_MEMBER goes in last. */
  reloadSoon(): void {
    this.reloading ??= this.reload()
      .catch((error: unknown) => {
        this.logger.warn({ err: { message: (error as Error).message } }, 'revocation mirror reload failed');
      })
      .finally(() => {
        this.reloading = undefined;
      });
  }

  async reload(): Promise<void> {
    let batch: string[] = [];
    for await (const doc of this.models.revocations.find({}, { _id: 1 }).lean<{ _id: string }[]>().cursor()) {
      batch.push(doc._id);
      if (batch.length >= 1000) {
        await this.redis.sadd(this.key, ...batch);
        batch = [];
      }
    }
    if (batch.length > 0) await this.redis.sadd(this.key, ...batch);
    await this.redis.sadd(this.key, LOADED_MEMBER);
  }
}

function withDeadline<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer within ${REDIS_WAIT_MS} ms`)), REDIS_WAIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}
