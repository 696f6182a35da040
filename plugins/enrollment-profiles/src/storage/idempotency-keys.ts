import { isDuplicateKeyError } from 'enrollment-gateway/sdk';
import type { Collection, Connection } from 'mongoose';

/** The answer a create gave, replayed to a repeat of the same Idempotency-Key. */
export interface StoredAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/**
 * Idempotency keys (`idempotency_keys`), one document per scope and key. Its writer is the request that won the
 * claim (a unique insert): it stores its own answer, or gives the claim back when its create was refused. Keys
 * older than the retention are deleted by whichever request comes next; nobody updates another's key.
 */
export interface IdempotencyKeys {
  /** Deletes keys claimed before `before`. */
  prune(before: Date): Promise<void>;
  /** True for the first claimant; false when the key was claimed before. */
  claim(id: string, at: Date): Promise<boolean>;
  /** The first claimant's answer; undefined while it still runs (or when the key is gone). */
  answerOf(id: string): Promise<StoredAnswer | undefined>;
  /** The claimant's answer. */
  answer(id: string, answer: StoredAnswer): Promise<void>;
  /** The claimant gives the key back (its create did not happen). */
  release(id: string): Promise<void>;
}

interface IdempotencyDoc {
  _id: string;
  at: Date;
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export class MongoIdempotencyKeys implements IdempotencyKeys {
  private readonly keys: Collection<IdempotencyDoc>;

  constructor(connection: Connection) {
    this.keys = connection.collection<IdempotencyDoc>('idempotency_keys');
  }

  async prune(before: Date): Promise<void> {
    await this.keys.deleteMany({ at: { $lt: before } });
  }

  async claim(id: string, at: Date): Promise<boolean> {
    try {
      await this.keys.insertOne({ _id: id, at });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async answerOf(id: string): Promise<StoredAnswer | undefined> {
    const doc = await this.keys.findOne({ _id: id });
    if (doc?.status === undefined) return undefined;
    return { status: doc.status, body: doc.body, headers: doc.headers ?? {} };
  }

  async answer(id: string, answer: StoredAnswer): Promise<void> {
    await this.keys.updateOne({ _id: id }, { $set: answer });
  }

  async release(id: string): Promise<void> {
    await this.keys.deleteOne({ _id: id });
  }
}
