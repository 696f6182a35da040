import { bulkWriteInChunks, withRedisLock } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type { Collection, Connection } from 'mongoose';
import type { AttemptRecords, PendingDoc } from './attempt-records.js';

/** Counts of one day for one slice (all attempts, one profile, one group, or a profile and a group). */
export interface DailyDoc {
  _id: string;
  day: string;
  dim: string;
  /** Attempts that passed each step. */
  steps: Record<string, number>;
  /** Attempts that stopped, by reason. */
  failures: Record<string, number>;
  /** The last rollup batch folded in: a batch applied again after a crash is skipped. */
  seq: number;
}

interface Delta {
  key: string;
  day: string;
  dim: string;
  steps: Record<string, number>;
  failures: Record<string, number>;
}

/** A batch of pending steps being folded in; kept until every counter has it, so a crash repeats it exactly. */
interface BatchDoc {
  _id: string;
  seq: number;
  pendingIds: string[];
  deltas: Delta[];
}

export const ALL = 'all';
export const dayOf = (at: Date): string => at.toISOString().slice(0, 10);
export const dimOf = (profileId?: string, groupId?: string): string =>
  profileId && groupId ? `p:${profileId}|g:${groupId}` : profileId ? `p:${profileId}` : groupId ? `g:${groupId}` : ALL;

/** The slices a step counts in: everything, its profile, each of the user's groups, and each profile × group. */
function dimsOf(pending: PendingDoc): string[] {
  const dims = [ALL];
  if (pending.profileId) dims.push(dimOf(pending.profileId));
  for (const group of pending.groups) {
    dims.push(dimOf(undefined, group));
    if (pending.profileId) dims.push(dimOf(pending.profileId, group));
  }
  return dims;
}

function fold(pending: readonly PendingDoc[]): Delta[] {
  const deltas = new Map<string, Delta>();
  for (const doc of pending) {
    const day = dayOf(doc.at);
    for (const dim of dimsOf(doc)) {
      const key = `${day}|${dim}`;
      let delta = deltas.get(key);
      if (!delta) {
        delta = { key, day, dim, steps: {}, failures: {} };
        deltas.set(key, delta);
      }
      if (doc.outcome === 'passed') delta.steps[doc.step] = (delta.steps[doc.step] ?? 0) + 1;
      else if (doc.reason) delta.failures[doc.reason] = (delta.failures[doc.reason] ?? 0) + 1;
    }
  }
  return [...deltas.values()];
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  const sum = { ...into };
  for (const [name, n] of Object.entries(from)) sum[name] = (sum[name] ?? 0) + n;
  return sum;
};

/**
 * Pre-aggregated daily counts, so the report reads a few dozen small documents instead of every attempt
 * (FerretDB uses no index). One writer: the rollup, holding a Redis lock, folds pending steps in batches. A
 * batch is written before its steps leave `insights_pending` and is applied to each counter once (the counter
 * keeps the last batch it took), so a rollup killed at any point counts every step exactly once.
 */
export class DailyCounters {
  private readonly daily: Collection<DailyDoc>;
  private readonly batches: Collection<BatchDoc>;
  private readonly state: Collection<{ _id: string; seq: number }>;

  constructor(
    connection: Connection,
    private readonly records: AttemptRecords,
    private readonly redis: Redis,
    private readonly lockKey: string,
  ) {
    this.daily = connection.collection<DailyDoc>('insights_daily');
    this.batches = connection.collection<BatchDoc>('insights_rollup_batches');
    this.state = connection.collection<{ _id: string; seq: number }>('insights_rollup_state');
  }

  /** Folds pending steps in until none are left (or `maxBatches`); false when another rollup holds the lock. */
  async rollup(batchSize = 10_000, maxBatches = 50): Promise<boolean> {
    const done = await withRedisLock(this.redis, this.lockKey, 5 * 60_000, async () => {
      for (const leftover of await this.batches.find({}).sort({ seq: 1 }).toArray()) await this.apply(leftover);
      for (let n = 0; n < maxBatches; n++) {
        const pending = await this.records.pendingBatch(batchSize);
        if (pending.length === 0) break;
        const seq = ((await this.state.findOne({ _id: 'seq' }))?.seq ?? 0) + 1;
        // The sequence moves first: a crash before the batch is written only skips a number.
        await this.state.replaceOne({ _id: 'seq' }, { seq }, { upsert: true });
        const batch: BatchDoc = {
          _id: String(seq).padStart(12, '0'),
          seq,
          pendingIds: pending.map((doc) => doc._id),
          deltas: fold(pending),
        };
        await this.batches.insertOne(batch);
        await this.apply(batch);
      }
      return true;
    });
    return done ?? false;
  }

  private async apply(batch: BatchDoc): Promise<void> {
    await this.records.dropPending(batch.pendingIds);
    const keys = batch.deltas.map((delta) => delta.key);
    const existing = new Map((await this.daily.find({ _id: { $in: keys } }).toArray()).map((doc) => [doc._id, doc]));
    const writes = batch.deltas.flatMap((delta) => {
      const doc = existing.get(delta.key);
      if (doc && doc.seq >= batch.seq) return [];
      const replacement = {
        day: delta.day,
        dim: delta.dim,
        steps: add(doc?.steps ?? {}, delta.steps),
        failures: add(doc?.failures ?? {}, delta.failures),
        seq: batch.seq,
      };
      return [{ replaceOne: { filter: { _id: delta.key }, replacement, upsert: true } }];
    });
    // Few round trips (chunks keep FerretDB from deadlocking); each counter is still replaced whole by this writer.
    await bulkWriteInChunks(writes, (chunk) => this.daily.bulkWrite(chunk, { ordered: false }));
    await this.batches.deleteOne({ _id: batch._id });
  }

  /** The counters of one slice for these days (read by _id). */
  async read(days: readonly string[], dim: string): Promise<DailyDoc[]> {
    return this.daily.find({ _id: { $in: days.map((day) => `${day}|${dim}`) } }).toArray();
  }

  async prune(beforeDay: string, limit: number): Promise<number> {
    const ids = (
      await this.daily
        .find({ day: { $lt: beforeDay } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray()
    ).map((doc) => doc._id);
    return ids.length ? (await this.daily.deleteMany({ _id: { $in: ids } })).deletedCount : 0;
  }
}
