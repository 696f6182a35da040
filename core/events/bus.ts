import { DelayedError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { CoreConfig } from '../config/schema.js';
import type { QueueHub } from '../queues.js';
import { GatewayError } from '../sdk/errors.js';
import type {
  DomainEventName,
  DomainEvents,
  EmitOptions,
  EmitResult,
  EventMeta,
  EventPublisher,
} from '../sdk/events.js';
import { withTimeout } from '../sdk/timeout.js';
import type { EventOutbox } from './outbox.js';
import { EventSweep, type Redelivery } from './sweep.js';

export interface EventSubscription {
  plugin: string;
  event: DomainEventName;
  handler: (payload: never, meta: EventMeta) => Promise<void> | void;
}

export class UndeclaredEventError extends GatewayError {}
export class InvalidEventIdError extends GatewayError {}

export type EventSettings = CoreConfig['events'];

/** What a delivery job carries: the payload stays in the outbox, the one copy of it. */
export interface DeliveryJob {
  eventId: string;
  subscriber: string;
}

export const EVENT_DELIVERY_QUEUE = 'core-event-delivery';
export const EVENT_SWEEP_QUEUE = 'core-event-sweep';
const MAX_EVENT_ID_LENGTH = 512;
/** How long a delivery taken by a worker without the subscriber waits before another worker may take it. */
export const NO_SUBSCRIBER_RETRY_MS = 2_000;

/** BullMQ job ids may not contain ':' (and event ids usually do); the encoding keeps them distinct. */
export const deliveryJobId = (eventId: string, subscriber: string) =>
  `evt.${subscriber}.${encodeURIComponent(eventId)}`;

export interface EventBusParts {
  outbox: EventOutbox;
  queues: QueueHub;
  /** The shared command connection; the sweep keeps its position under `keyPrefix`. */
  redis: Redis;
  keyPrefix: string;
  logger: Logger;
  failures: Counter<'plugin' | 'hook'>;
  settings: EventSettings;
}

/**
 * Durable domain events. `emit` records the event in the outbox (unique by event id) and queues one
 * delivery job per subscribing plugin; workers run the handlers and mark each success, so a delivery
 * whose marker exists is skipped. A sweep re-queues what was recorded but never marked. At-least-once
 * delivery; exactly-once effect for handlers that are idempotent by event id.
 */
export class EventBus {
  private readonly handlers = new Map<DomainEventName, EventSubscription[]>();
  private readonly sweeper: EventSweep;
  private scheduleCheck?: NodeJS.Timeout;

  constructor(private readonly parts: EventBusParts) {
    this.sweeper = new EventSweep({
      ...parts,
      subscribersOf: (event) => this.subscribersOf(event),
      enqueue: (eventId, subscriber) => this.redeliver(eventId, subscriber),
    });
  }

  subscribe(subscription: EventSubscription): void {
    const list = this.handlers.get(subscription.event) ?? [];
    list.push(subscription);
    this.handlers.set(subscription.event, list);
  }

  subscribersOf(event: DomainEventName): string[] {
    return [...new Set((this.handlers.get(event) ?? []).map((s) => s.plugin))];
  }

  /** Declares the delivery and sweep queues; called before workers start. */
  declareQueues(): void {
    const { settings } = this.parts;
    this.parts.queues.declareCore({
      name: EVENT_DELIVERY_QUEUE,
      concurrency: settings.concurrency,
      worker: { lockDuration: settings.lockDurationMs, stalledInterval: Math.max(250, settings.lockDurationMs / 2) },
      processor: (job, token) => this.deliver(job as Job<DeliveryJob>, token),
    });
    this.parts.queues.declareCore({
      name: EVENT_SWEEP_QUEUE,
      processor: () => this.sweeper.pass(),
    });
  }

  /**
   * Creates the outbox's indexes; in the work role, also schedules the sweep, and checks every interval that
   * the schedule still exists (a Redis restarted without persistence lost it with everything else).
   */
  async start(runsWorkers: boolean): Promise<void> {
    await this.parts.outbox.ensureIndexes();
    if (!runsWorkers) return;
    await this.scheduleSweep();
    this.scheduleCheck = setInterval(() => {
      this.scheduleSweep().catch((error: unknown) =>
        this.parts.logger.warn({ err: { message: (error as Error).message } }, 'could not schedule the event sweep'),
      );
    }, this.parts.settings.sweepIntervalMs);
    this.scheduleCheck.unref();
  }

  stop(): void {
    clearInterval(this.scheduleCheck);
  }

  private async scheduleSweep(): Promise<void> {
    await this.parts.queues
      .handle(EVENT_SWEEP_QUEUE)
      .queue.upsertJobScheduler(
        'core-event-sweep',
        { every: this.parts.settings.sweepIntervalMs },
        { name: 'sweep', data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
  }

  publisherFor(plugin: string, declared: readonly DomainEventName[]): EventPublisher {
    return {
      emit: async <K extends DomainEventName>(event: K, payload: DomainEvents[K], options: EmitOptions) => {
        if (!declared.includes(event)) {
          throw new UndeclaredEventError(
            'event_undeclared',
            `plugin "${plugin}" emitted "${event}" without declaring it in "emits"`,
          );
        }
        return this.emit(plugin, event, payload, options);
      },
    };
  }

  private async emit<K extends DomainEventName>(
    plugin: string,
    event: K,
    payload: DomainEvents[K],
    options: EmitOptions,
  ): Promise<EmitResult> {
    const eventId = options?.eventId;
    if (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > MAX_EVENT_ID_LENGTH) {
      throw new InvalidEventIdError(
        'event_id_invalid',
        `plugin "${plugin}" emitted "${event}" without an event id (1 to ${MAX_EVENT_ID_LENGTH} characters)`,
      );
    }
    const recorded = await this.parts.outbox.record({ _id: eventId, event, payload, emitter: plugin, at: new Date() });
    if (options.apply) await options.apply(recorded);
    await Promise.all(
      this.subscribersOf(event).map((subscriber) =>
        this.enqueue(eventId, subscriber).catch((error: unknown) => {
          // Recorded is what matters: the sweep queues it again once Redis answers.
          this.parts.logger.warn(
            { eventId, event, subscriber, err: { message: (error as Error).message } },
            'event recorded; its delivery is left to the sweep',
          );
        }),
      ),
    );
    return { recorded };
  }

  private async enqueue(eventId: string, subscriber: string): Promise<void> {
    const { settings } = this.parts;
    await this.parts.queues.handle<DeliveryJob>(EVENT_DELIVERY_QUEUE).add(
      'deliver',
      { eventId, subscriber },
      {
        // One job per event and subscriber: a repeat emit adds nothing while the first job is known.
        jobId: deliveryJobId(eventId, subscriber),
        attempts: settings.attempts,
        backoff: { type: 'exponential', delay: settings.backoffMs },
        removeOnComplete: { age: 3_600, count: 10_000 },
        removeOnFail: { age: 7 * 86_400 },
      },
    );
  }

  /** The sweep's re-delivery: restarts a failed job, replaces a finished one, leaves one that is pending. */
  private async redeliver(eventId: string, subscriber: string): Promise<Redelivery> {
    const queue = this.parts.queues.handle<DeliveryJob>(EVENT_DELIVERY_QUEUE).queue;
    const job = await queue.getJob(deliveryJobId(eventId, subscriber));
    const state = job ? await job.getState() : 'unknown';
    if (job && state === 'failed') {
      await job.retry('failed');
      return 'restarted';
    }
    if (job && state !== 'completed' && state !== 'unknown') return 'pending';
    await job?.remove().catch(() => undefined);
    await this.enqueue(eventId, subscriber);
    return 'lost';
  }

  /**
   * A worker of a process without the subscribing plugin took the job: during a rolling upgrade that adds a
   * plugin, old replicas still run workers. Finishing the job would leave the event to the sweep, whose pass may
   * run in such a process too; the job goes back to the queue instead, without using up a try, until the event
   * is older than giveUpAfterMs (the plugin was removed everywhere, so no worker will ever have it).
   */
  private async leaveToAnotherWorker(job: Job<DeliveryJob>, recordedAt: Date, token?: string) {
    const { settings, logger } = this.parts;
    if (!token || Date.now() - recordedAt.getTime() > settings.giveUpAfterMs) return { outcome: 'no-subscriber' };
    logger.debug({ eventId: job.data.eventId, subscriber: job.data.subscriber }, 'no handler here; delivery deferred');
    await job.moveToDelayed(Date.now() + NO_SUBSCRIBER_RETRY_MS, token);
    throw new DelayedError();
  }

  /** Runs one delivery in the work role: skipped when marked, marked once the handler succeeds. */
  async deliver(job: Job<DeliveryJob>, token?: string): Promise<{ outcome: string }> {
    const { eventId, subscriber } = job.data;
    const { outbox, settings, logger } = this.parts;
    const [doc, delivered] = await Promise.all([outbox.find(eventId), outbox.isDelivered(eventId, subscriber)]);
    if (delivered) return { outcome: 'already-delivered' };
    if (!doc) return { outcome: 'event-pruned' };
    const subscriptions = (this.handlers.get(doc.event) ?? []).filter((s) => s.plugin === subscriber);
    if (subscriptions.length === 0) return this.leaveToAnotherWorker(job, doc.at, token);
    const attempt = job.attemptsMade + 1;
    const meta: EventMeta = { eventId, event: doc.event, attempt, recordedAt: doc.at };
    try {
      for (const { handler } of subscriptions) {
        await withTimeout(
          () => handler(doc.payload as never, meta),
          settings.handlerTimeoutMs,
          `the ${subscriber} handler of ${doc.event}`,
        );
      }
    } catch (error) {
      this.parts.failures.inc({ plugin: subscriber, hook: `event:${doc.event}` });
      const log = { err: error, plugin: subscriber, event: doc.event, eventId, attempt };
      // Only news is logged: the first failure, and the last try before the sweep takes over.
      if (attempt === settings.attempts)
        logger.error(log, 'event handler failed on its last try; the sweep retries it');
      else if (attempt === 1) logger.warn(log, 'event handler failed; retrying with backoff');
      else logger.debug(log, 'event handler failed again');
      throw error;
    }
    await outbox.markDelivered(eventId, subscriber);
    return { outcome: 'delivered' };
  }
}
