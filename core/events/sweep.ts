import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DomainEventName } from '../sdk/events.js';
import type { EventSettings } from './bus.js';
import { deliveryId, type EventOutbox, type OutboxPosition } from './outbox.js';

const DAY_MS = 86_400_000;
/** Old events and markers deleted per pass, each. */
const PRUNE_BATCH = 1_000;

export interface EventSweepParts {
  outbox: EventOutbox;
  redis: Redis;
  keyPrefix: string;
  logger: Logger;
  settings: EventSettings;
  subscribersOf(event: DomainEventName): string[];
  /**
   * Queues the delivery again unless it is still pending: 'lost' when its job was gone (news: an emitter
   * or Redis lost it), 'restarted' when a failed job was retried, 'pending' when it was left alone.
   */
  enqueue(eventId: string, subscriber: string): Promise<Redelivery>;
}

export type Redelivery = 'lost' | 'restarted' | 'pending';

export interface SweepOutcome {
  examined: number;
  /** Deliveries whose job was gone and was queued again. */
  requeued: number;
  /** Failed deliveries retried. */
  restarted: number;
  givenUp: number;
  pruned: number;
}

/**
 * Re-delivers events that were recorded but have no delivery marker for some subscriber (an emitter that
 * died before queuing, a Redis that lost its jobs, a delivery that used up its tries). It walks the outbox
 * by record time from a position kept in Redis: the oldest event still owed to someone, so each pass reads
 * at most `sweepBatch` events through the (at, _id) index, never the whole collection. An event still owed
 * after `giveUpAfterMs` whose delivery is not pending gets one last try and is logged as given up; the
 * position passes it, so one broken handler cannot hold it for good. Only the sweep job writes the
 * position; when Redis lost it, the sweep starts again `giveUpAfterMs` ago.
 */
export class EventSweep {
  constructor(private readonly parts: EventSweepParts) {}

  private get positionKey(): string {
    return `${this.parts.keyPrefix}core:events:sweep-position`;
  }

  private async position(now: number): Promise<OutboxPosition> {
    const stored = await this.parts.redis.get(this.positionKey);
    if (!stored) return { at: new Date(now - this.parts.settings.giveUpAfterMs), id: '' };
    const { at, id } = JSON.parse(stored) as { at: string; id: string };
    return { at: new Date(at), id };
  }

  async pass(): Promise<SweepOutcome> {
    const { outbox, settings, logger } = this.parts;
    const now = Date.now();
    const from = await this.position(now);
    const batch = await outbox.after(from, new Date(now - settings.redeliverAfterMs), settings.sweepBatch);
    const owed = batch.map((doc) =>
      this.parts.subscribersOf(doc.event).map((subscriber) => ({ subscriber, id: deliveryId(doc._id, subscriber) })),
    );
    const delivered = await outbox.delivered(owed.flat().map((o) => o.id));
    let next: OutboxPosition | undefined = from;
    let requeued = 0;
    let restarted = 0;
    let givenUp = 0;
    for (const [index, doc] of batch.entries()) {
      const missing = owed[index].filter((o) => !delivered.has(o.id)).map((o) => o.subscriber);
      let hold = false;
      for (const subscriber of missing) {
        const outcome = await this.parts.enqueue(doc._id, subscriber);
        if (outcome === 'lost') requeued++;
        else if (outcome === 'restarted') restarted++;
        hold ||= outcome === 'pending';
      }
      const tooOld = doc.at.getTime() < now - settings.giveUpAfterMs;
      if (missing.length > 0 && tooOld && !hold) {
        // One last try was just queued; the position moves on, so later events are not held up for good.
        givenUp += missing.length;
        logger.error({ eventId: doc._id, event: doc.event, subscribers: missing }, 'gave up delivering an event');
      } else if (missing.length > 0) {
        // The position stays before the oldest event still owed: later passes look at it again.
        next = undefined;
      }
      if (next) next = { at: doc.at, id: doc._id };
    }
    if (next && next !== from) {
      await this.parts.redis.set(this.positionKey, JSON.stringify({ at: next.at.toISOString(), id: next.id }));
    }
    if (requeued > 0) logger.warn({ requeued }, 're-queued deliveries of recorded events whose job was gone');
    const pruned = await outbox.prune(new Date(now - settings.retentionDays * DAY_MS), PRUNE_BATCH);
    return { examined: batch.length, requeued, restarted, givenUp, pruned };
  }
}
