import { type Connection, mongo } from 'mongoose';
import type { DomainEventName } from '../sdk/events.js';
import { isDuplicateKeyError } from '../sdk/versioning.js';

/** One recorded event as emit hands it over and delivery reads it back. */
export interface EventDoc {
  _id: string;
  event: DomainEventName;
  payload: unknown;
  /** The plugin that emitted it. */
  emitter: string;
  at: Date;
}

/**
 * As stored: insert-only (written by the emitter), deleted by the retention pass. The payload is kept as
 * BSON bytes: plist answers have keys with dots ("com.example.app") that a document field may not have on
 * every server, and Buffers and Dates come back as they went in.
 */
interface StoredEventDoc extends Omit<EventDoc, 'payload'> {
  payload: mongo.Binary;
}

/** "This subscriber's handler succeeded for this event": insert-only (written by the worker that ran it). */
export interface DeliveryDoc {
  _id: string;
  eventId: string;
  subscriber: string;
  at: Date;
}

/** Where the sweep has got to: the (at, _id) of the last event it no longer needs to look at. */
export interface OutboxPosition {
  at: Date;
  id: string;
}

export const EVENTS_COLLECTION = 'core_events';
export const DELIVERIES_COLLECTION = 'core_event_deliveries';

export const deliveryId = (eventId: string, subscriber: string) => `${subscriber}>${eventId}`;

/**
 * The core's event outbox in the database. Both collections change by insert and delete only, so they
 * need no transactions and no atomic updates: a unique insert is the single-use claim.
 */
export class EventOutbox {
  constructor(private readonly connection: Connection) {}

  private get db(): mongo.Db {
    const db = this.connection.db;
    if (!db) throw new Error('the database connection is not open');
    return db;
  }

  private get events(): mongo.Collection<StoredEventDoc> {
    return this.db.collection<StoredEventDoc>(EVENTS_COLLECTION);
  }

  private get deliveries(): mongo.Collection<DeliveryDoc> {
    return this.db.collection<DeliveryDoc>(DELIVERIES_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.events.createIndex({ at: 1, _id: 1 }, { name: 'at_id' });
    await this.deliveries.createIndex({ at: 1 }, { name: 'at' });
  }

  /** True when this call recorded the event, false when one with that id was recorded before. */
  async record(doc: EventDoc): Promise<boolean> {
    try {
      const payload = new mongo.Binary(mongo.BSON.serialize({ payload: doc.payload }, { ignoreUndefined: true }));
      await this.events.insertOne({ ...doc, payload });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async find(eventId: string): Promise<EventDoc | null> {
    const stored = await this.events.findOne({ _id: eventId });
    if (!stored) return null;
    const { payload } = mongo.BSON.deserialize(stored.payload.buffer, { promoteBuffers: true });
    return { ...stored, payload };
  }

  async isDelivered(eventId: string, subscriber: string): Promise<boolean> {
    return (await this.deliveries.countDocuments({ _id: deliveryId(eventId, subscriber) }, { limit: 1 })) > 0;
  }

  async markDelivered(eventId: string, subscriber: string): Promise<void> {
    try {
      await this.deliveries.insertOne({ _id: deliveryId(eventId, subscriber), eventId, subscriber, at: new Date() });
    } catch (error) {
      // A second worker that ran the same delivery (after a stall) finds the marker: nothing to add.
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  /** Of these delivery ids, the ones that have a marker. */
  async delivered(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const found = await this.deliveries.find({ _id: { $in: [...ids] } }, { projection: { _id: 1 } }).toArray();
    return new Set(found.map((doc) => doc._id));
  }

  /** Up to `limit` events after `position` and recorded no later than `until`, oldest first (index at_id). */
  after(position: OutboxPosition, until: Date, limit: number): Promise<Pick<EventDoc, '_id' | 'event' | 'at'>[]> {
    return this.events
      .find(
        {
          at: { $gte: position.at, $lte: until },
          $or: [{ at: { $gt: position.at } }, { _id: { $gt: position.id } }],
        },
        { projection: { _id: 1, event: 1, at: 1 }, sort: { at: 1, _id: 1 }, limit },
      )
      .toArray();
  }

  /** Deletes up to `limit` events and as many markers recorded before `cutoff`; returns how many went. */
  async prune(cutoff: Date, limit: number): Promise<number> {
    const [events, deliveries] = await Promise.all([
      pruneBefore(this.db.collection<{ _id: string; at: Date }>(EVENTS_COLLECTION), cutoff, limit),
      pruneBefore(this.db.collection<{ _id: string; at: Date }>(DELIVERIES_COLLECTION), cutoff, limit),
    ]);
    return events + deliveries;
  }
}

/** Deletes by _id what an index range on `at` found: bounded, and never a scan of the collection. */
async function pruneBefore(
  collection: mongo.Collection<{ _id: string; at: Date }>,
  cutoff: Date,
  limit: number,
): Promise<number> {
  const old = await collection.find({ at: { $lt: cutoff } }, { projection: { _id: 1 }, limit }).toArray();
  if (old.length === 0) return 0;
  const { deletedCount } = await collection.deleteMany({ _id: { $in: old.map((doc) => doc._id) } });
  return deletedCount;
}
