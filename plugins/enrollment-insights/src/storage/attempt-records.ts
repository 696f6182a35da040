import { type EnrollmentFailureReason, type EnrollmentStep, isDuplicateKeyError } from 'enrollment-gateway/sdk';
import type { Collection, Connection, mongo } from 'mongoose';

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
async function insertOnce<T extends { _id: string }>(collection: Collection<T>, doc: T): Promise<boolean> {
  try {
    await collection.insertOne(doc as mongo.OptionalUnlessRequiredId<T>);
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

/** What the failures table filters by. */
export interface FailureFilter {
  from?: string;
  to?: string;
  reason?: EnrollmentFailureReason;
  /** A user id or (part of) the user's name. */
  user?: string;
  profileId?: string;
  /** Attempts of this group's members, as the user's groups were at sign-in. */
  groupId?: string;
  osVersion?: string;
}

/** A keyset position in the failures table: newest first by (at, attempt id). */
export interface FailureCursor {
  at: Date;
  id: string;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function failureQuery(filter: FailureFilter, before?: FailureCursor): mongo.Filter<FailureDoc> {
  const and: mongo.Filter<FailureDoc>[] = [];
  if (filter.from) and.push({ at: { $gte: new Date(`${filter.from}T00:00:00Z`) } });
  if (filter.to) and.push({ at: { $lt: new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86_400_000) } });
  if (filter.reason) and.push({ reason: filter.reason });
  if (filter.profileId) and.push({ profileId: filter.profileId });
  if (filter.groupId) and.push({ groups: filter.groupId });
  if (filter.osVersion) and.push({ osVersion: { $regex: `^${escapeRegExp(filter.osVersion)}(\\.|$)` } });
  if (filter.user)
    and.push({ $or: [{ userId: filter.user }, { userName: { $regex: escapeRegExp(filter.user), $options: 'i' } }] });
  if (before) and.push({ $or: [{ at: { $lt: before.at } }, { at: before.at, _id: { $lt: before.id } }] });
  return and.length ? { $and: and } : {};
}

/**
 * The plugin's attempt records, behind the operations its roles use. Every collection changes by insert and
 * delete only (one writer per record, see docs/enrollment-insights.md): no update can be lost on a database that
 * applies updates as read-change-write. The daily counters are the exception with one writer: the rollup, under a
 * Redis lock (daily-counters.ts).
 */
export class AttemptRecords {
  private readonly attempts: Collection<AttemptDoc>;
  private readonly steps: Collection<StepDoc>;
  private readonly failures: Collection<FailureDoc>;
  private readonly links: Collection<LinkDoc>;
  private readonly open: Collection<OpenDoc>;
  private readonly pending: Collection<PendingDoc>;

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

  attempt(attemptId: string): Promise<AttemptDoc | null> {
    return this.attempts.findOne({ _id: attemptId });
  }

  async latestAttemptOf(userId: string): Promise<AttemptDoc | undefined> {
    const [attempt] = await this.attempts.find({ userId }).sort({ startedAt: -1 }).limit(1).toArray();
    return attempt;
  }

  /** True when this call inserted the attempt (its first step). */
  insertAttempt(doc: AttemptDoc): Promise<boolean> {
    return insertOnce(this.attempts, doc);
  }

  step(stepId: string): Promise<StepDoc | null> {
    return this.steps.findOne({ _id: stepId });
  }

  async stepsOf(attemptId: string): Promise<StepDoc[]> {
    return this.steps.find({ attemptId }).sort({ at: 1 }).toArray();
  }

  insertStep(doc: StepDoc): Promise<boolean> {
    return insertOnce(this.steps, doc);
  }

  failure(attemptId: string): Promise<FailureDoc | null> {
    return this.failures.findOne({ _id: attemptId });
  }

  /** True when this is the attempt's first failure (the one that stands). */
  insertFailure(doc: FailureDoc): Promise<boolean> {
    return insertOnce(this.failures, doc);
  }

  /** Newest first, `limit + 1` rows so the caller can tell whether a next page exists. */
  failuresPage(filter: FailureFilter, limit: number, before?: FailureCursor): Promise<FailureDoc[]> {
    return this.failures
      .find(failureQuery(filter, before))
      .sort({ at: -1, _id: -1 })
      .limit(limit + 1)
      .toArray();
  }

  linkOf(enrollmentId: string): Promise<LinkDoc | null> {
    return this.links.findOne({ _id: enrollmentId });
  }

  insertLink(doc: LinkDoc): Promise<boolean> {
    return insertOnce(this.links, doc);
  }

  openAttempts(limit: number): Promise<OpenDoc[]> {
    return this.open.find({}).limit(limit).toArray();
  }

  insertOpen(doc: OpenDoc): Promise<boolean> {
    return insertOnce(this.open, doc);
  }

  async closeOpen(attemptId: string): Promise<void> {
    await this.open.deleteOne({ _id: attemptId });
  }

  insertPending(doc: PendingDoc): Promise<boolean> {
    return insertOnce(this.pending, doc);
  }

  pendingBatch(limit: number): Promise<PendingDoc[]> {
    return this.pending.find({}).limit(limit).toArray();
  }

  /** Only the rollup deletes pending steps, after it folded them. */
  async dropPending(ids: string[]): Promise<void> {
    await this.pending.deleteMany({ _id: { $in: ids } });
  }

  /** Deletes what is older than `cutoff`, at most `limit` of each kind per call; returns how many went. */
  async prune(cutoff: Date, limit: number): Promise<number> {
    const older = async <T extends { _id: string }>(collection: Collection<T>, field: string) => {
      const ids = (
        await collection
          .find({ [field]: { $lt: cutoff } } as mongo.Filter<T>, { projection: { _id: 1 } })
          .limit(limit)
          .toArray()
      ).map((doc) => doc._id);
      if (ids.length === 0) return 0;
      return (await collection.deleteMany({ _id: { $in: ids } } as mongo.Filter<T>)).deletedCount;
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
