import { type Connection, type Model, Schema } from 'mongoose';
import type { DeliveryJob } from './delivery.js';

/** A delivery that used up its attempts: everything needed to look at it and send it again. */
export interface DeadLetterDoc {
  /** The delivery id, `<eventId>.<endpoint>`. */
  _id: string;
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

const schema = new Schema<DeadLetterDoc>(
  {
    _id: { type: String, required: true },
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

export interface DeadLetterPage {
  items: DeadLetterDoc[];
  /** More entries follow the last item. */
  more: boolean;
}
/** The dead-letter list in MongoDB, newest first. */
export class DeadLetters {
  readonly model: Model<DeadLetterDoc>;

  constructor(connection: Connection) {
    this.model =
      (connection.models.WebhookDeadLetter as Model<DeadLetterDoc> | undefined) ??
      connection.model<DeadLetterDoc>('WebhookDeadLetter', schema);
  }

  async ensureIndexes(): Promise<void> {
    await this.model.createIndexes();
  }

  /** Replaces an older dead letter of the same delivery: a replay that died again is one entry, not two. */
  async record(doc: DeadLetterDoc): Promise<void> {
    await this.model.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  get(id: string): Promise<DeadLetterDoc | null> {
    return this.model.findById(id).lean<DeadLetterDoc>().exec();
  }

  /** Newest first; `after` is the last item of the previous page. */
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

  /**
   * Removes the entry only if it is still the one that was replayed: when the replayed delivery has
   * already died again (and bumped `replays`), the new entry stays.
   */
  async removeReplayed(id: string, replays: number): Promise<boolean> {
    const result = await this.model.deleteOne({ _id: id, replays });
    return result.deletedCount === 1;
  }

  async discard(id: string): Promise<boolean> {
    const result = await this.model.deleteOne({ _id: id });
    return result.deletedCount === 1;
  }

  async prune(olderThan: Date): Promise<number> {
    const result = await this.model.deleteMany({ deadAt: { $lt: olderThan } });
    return result.deletedCount;
  }
}
