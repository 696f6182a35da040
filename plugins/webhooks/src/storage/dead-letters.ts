import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import type { DeliveryJob } from '../delivery.js';

/** A delivery that used up its attempts: everything needed to look at it and send it again. */
export interface DeadLetterDoc {
  /**
   * One try of one delivery: its job id, `<eventId>.<endpoint>` for the first try and `….r<n>` after the n-th
   * replay. A replay that dies again is a new document, never an update of the one the replay removes.
   */
  _id: string;
  /** `<eventId>.<endpoint>`; missing in entries stored before replays had their own id (then it is `_id`). */
  deliveryId?: string;
  eventId: string;
  endpoint: string;
  url: string;
  type: DeliveryJob['type'];
  occurredAt: string;
  data: unknown;
  attempts: number;
  replays: number;
  lastStatus?: number;
  lastError: string;
  deadAt: Date;
}

export interface DeadLetterPage {
  items: DeadLetterDoc[];
  /** More entries follow the last item. */
  more: boolean;
}

/**
 * The dead-letter list (`webhook_dead_letters`) changes only by insert and delete, so no two of its writers can
 * lose each other's change on a database that applies an update as read-change-write (FerretDB):
 * - burying (the delivery worker, and the sweep of jobs BullMQ failed on its own): a unique insert per try;
 * - replay, discard (admin requests) and the prune job: deletes.
 */
export interface DeadLetterBurials {
  /** False when this try was buried before (the worker and the sweep both saw it). */
  bury(doc: DeadLetterDoc): Promise<boolean>;
}

export interface DeadLetterReader {
  get(id: string): Promise<DeadLetterDoc | undefined>;
  /** Newest first; `after` is the last item of the previous page. */
  list(filter: { endpoint?: string; after?: { deadAt: Date; id: string }; limit: number }): Promise<DeadLetterPage>;
  countByEndpoint(): Promise<Record<string, number>>;
}

export interface DeadLetterRemovals {
  /** True when this call removed it. */
  remove(id: string): Promise<boolean>;
  /** Removes entries that died before `olderThan`; returns how many. */
  prune(olderThan: Date): Promise<number>;
}

export type DeadLetters = DeadLetterBurials & DeadLetterReader & DeadLetterRemovals;

/** The delivery a dead letter is a try of. */
export const deliveryIdOf = (doc: DeadLetterDoc) => doc.deliveryId ?? doc._id;

const schema = new Schema<DeadLetterDoc>(
  {
    _id: { type: String, required: true },
    deliveryId: { type: String },
    eventId: { type: String, required: true },
    endpoint: { type: String, required: true },
    url: { type: String, required: true },
    type: { type: String, required: true },
    occurredAt: { type: String, required: true },
    data: { type: Schema.Types.Mixed },
    attempts: { type: Number, required: true },
    replays: { type: Number, required: true, default: 0 },
    lastStatus: { type: Number },
    lastError: { type: String, required: true },
    deadAt: { type: Date, required: true },
  },
  { collection: 'webhook_dead_letters', versionKey: false, minimize: false },
);
schema.index({ endpoint: 1, deadAt: -1 });
schema.index({ deadAt: -1 });

export class MongoDeadLetters implements DeadLetters {
  private readonly model: Model<DeadLetterDoc>;

  constructor(connection: Connection) {
    this.model = modelOn<DeadLetterDoc>(connection, 'WebhookDeadLetter', schema);
  }

  async ensureIndexes(): Promise<void> {
    await this.model.createIndexes();
  }

  async bury(doc: DeadLetterDoc): Promise<boolean> {
    try {
      await this.model.create(doc);
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async get(id: string): Promise<DeadLetterDoc | undefined> {
    return (await this.model.findById(id).lean<DeadLetterDoc>().exec()) ?? undefined;
  }

  async list(filter: {
    endpoint?: string;
    after?: { deadAt: Date; id: string };
    limit: number;
  }): Promise<DeadLetterPage> {
    const query: Record<string, unknown> = {};
    if (filter.endpoint) query.endpoint = filter.endpoint;
    if (filter.after) {
      const { deadAt, id } = filter.after;
      query.$or = [{ deadAt: { $lt: deadAt } }, { deadAt, _id: { $gt: id } }];
    }
    const items = await this.model
      .find(query)
      .sort({ deadAt: -1, _id: 1 })
      .limit(filter.limit + 1)
      .lean<DeadLetterDoc[]>()
      .exec();
    return { items: items.slice(0, filter.limit), more: items.length > filter.limit };
  }

  async countByEndpoint(): Promise<Record<string, number>> {
    const rows = await this.model.aggregate<{ _id: string; count: number }>([
      { $group: { _id: '$endpoint', count: { $sum: 1 } } },
    ]);
    return Object.fromEntries(rows.map((row) => [row._id, row.count]));
  }

  async remove(id: string): Promise<boolean> {
    const result = await this.model.deleteOne({ _id: id });
    return result.deletedCount === 1;
  }

  async prune(olderThan: Date): Promise<number> {
    const result = await this.model.deleteMany({ deadAt: { $lt: olderThan } });
    return result.deletedCount;
  }
}
