import { type EnrollmentFailureReason, type EnrollmentStep, isDuplicateKeyError } from 'enrollment-gateway/sdk';
import type { Collection, Connection } from 'mongoose';

/** The attempt: who, which device and profile; inserted once by the first step recorded for it. */
export interface AttemptDoc {
  _id: string;
  startedAt: Date;
  userId?: string;
  userName?: string;
  profileId?: string;
  groups: string[];
  platform?: string;
  osVersion?: string;
}

/** One step of one attempt: `<attemptId>:<step>`, inserted once. */
export interface StepDoc {
  _id: string;
  attemptId: string;
  step: EnrollmentStep;
  outcome: 'passed' | 'failed';
  reason?: EnrollmentFailureReason;
  at: Date;
  detail?: string;
  method?: string;
  deviceId?: string;
}

/** Why the attempt stopped: `_id` is the attempt (the first failure stands). */
export interface FailureDoc {
  _id: string;
  at: Date;
  step: EnrollmentStep;
  reason: EnrollmentFailureReason;
  vetoedBy?: string;
  detail?: string;
  userId?: string;
  userName?: string;
  profileId?: string;
  platform?: string;
  osVersion?: string;
  enrollmentId?: string;
  /** The user's groups at sign-in (the failures table filters by group). */
  groups?: string[];
}

/** Enrollment session → attempt, inserted by the session-created step. */
export interface LinkDoc {
  _id: string;
  attemptId: string;
  at: Date;
}

/** An attempt with a session that has not ended yet: the sweep looks at these (insert, delete). */
export interface OpenDoc {
  _id: string;
  enrollmentId: string;
  expiresAt: Date;
  at: Date;
}

/** A step not yet folded into the daily counts (insert by the recorder, delete by the rollup). */
export interface PendingDoc {
  _id: string;
  at: Date;
  step: EnrollmentStep;
  outcome: 'passed' | 'failed';
  reason?: EnrollmentFailureReason;
  profileId?: string;
  groups: string[];
}

/** Inserts unless a document with that _id exists; true when this call inserted it. */
export async function insertOnce<T extends { _id: string }>(collection: Collection<T>, doc: T): Promise<boolean> {
  try {
    await collection.insertOne(doc as never);
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

/**
 * Every collection of this plugin changes by insert and delete only (one writer per record, see
 * docs/enrollment-insights.md): no update can be lost on a database that applies updates as read-change-write.
 * The daily counters are the exception with one writer: the rollup, under a Redis lock (daily-counters.ts).
 */
export class AttemptRecords {
  readonly attempts: Collection<AttemptDoc>;
  readonly steps: Collection<StepDoc>;
  readonly failures: Collection<FailureDoc>;
  readonly links: Collection<LinkDoc>;
  readonly open: Collection<OpenDoc>;
  readonly pending: Collection<PendingDoc>;

  constructor(connection: Connection) {
    this.attempts = connection.collection<AttemptDoc>('insights_attempts');
    this.steps = connection.collection<StepDoc>('insights_steps');
    this.failures = connection.collection<FailureDoc>('insights_failures');
    this.links = connection.collection<LinkDoc>('insights_links');
    this.open = connection.collection<OpenDoc>('insights_open');
    this.pending = connection.collection<PendingDoc>('insights_pending');
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.attempts.createIndex({ userId: 1, startedAt: -1 }),
      this.attempts.createIndex({ startedAt: 1 }),
      this.steps.createIndex({ attemptId: 1 }),
      this.steps.createIndex({ at: 1 }),
      this.failures.createIndex({ at: -1, _id: -1 }),
      this.links.createIndex({ at: 1 }),
    ]);
  }

  async stepsOf(attemptId: string): Promise<StepDoc[]> {
    return this.steps.find({ attemptId }).sort({ at: 1 }).toArray();
  }

  /** Deletes what is older than `cutoff`, at most `limit` of each kind per call; returns how many went. */
  async prune(cutoff: Date, limit: number): Promise<number> {
    const older = async <T extends { _id: string }>(collection: Collection<T>, field: string) => {
      const ids = (
        await collection
          .find({ [field]: { $lt: cutoff } } as never, { projection: { _id: 1 } })
          .limit(limit)
          .toArray()
      ).map((doc) => doc._id);
      if (ids.length === 0) return 0;
      return (await collection.deleteMany({ _id: { $in: ids } } as never)).deletedCount;
    };
    const counts = await Promise.all([
      older(this.attempts, 'startedAt'),
      older(this.steps, 'at'),
      older(this.failures, 'at'),
      older(this.links, 'at'),
      older(this.open, 'at'),
    ]);
    return counts.reduce((a, b) => a + b, 0);
  }
}
