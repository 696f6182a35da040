import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { GatewayError } from './sdk/errors.js';
import type { DomainEventName, DomainEvents, EventPublisher } from './sdk/events.js';

export interface EventSubscription {
  plugin: string;
  event: DomainEventName;
  handler: (payload: never) => Promise<void> | void;
}

export class UndeclaredEventError extends GatewayError {}

export interface EventBusOptions {
  /**
   * How long the emitter waits for one handler. A handler still running after that is logged and counted
   * as failed, and keeps running on its own; the request or job that emitted the event carries on.
   */
  handlerTimeoutMs?: number;
}

const DEFAULT_HANDLER_TIMEOUT_MS = 10_000;

/**
 * In-process dispatch of domain events to the handlers plugins declared. Handlers are meant to
 * do durable work through queues, so a replica only runs handlers for events it raised itself.
 * A failing or hanging handler is logged and counted; it never fails the emitter.
 */
export class EventBus {
  private readonly handlers = new Map<DomainEventName, EventSubscription[]>();
  private readonly handlerTimeoutMs: number;

  constructor(
    private readonly logger: Logger,
    private readonly failures: Counter<'plugin' | 'hook'>,
    options: EventBusOptions = {},
  ) {
    this.handlerTimeoutMs = options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
  }

  subscribe(subscription: EventSubscription): void {
    const list = this.handlers.get(subscription.event) ?? [];
    list.push(subscription);
    this.handlers.set(subscription.event, list);
  }

  publisherFor(plugin: string, declared: readonly DomainEventName[]): EventPublisher {
    return {
      emit: async <K extends DomainEventName>(event: K, payload: DomainEvents[K]) => {
        if (!declared.includes(event)) {
          throw new UndeclaredEventError(
            'event_undeclared',
            `plugin "${plugin}" emitted "${event}" without declaring it in "emits"`,
          );
        }
        await this.dispatch(event, payload);
      },
    };
  }

  private async dispatch<K extends DomainEventName>(event: K, payload: DomainEvents[K]): Promise<void> {
    const subscribers = this.handlers.get(event) ?? [];
    await Promise.all(subscribers.map((subscription) => this.runIsolated(subscription, event, payload)));
  }

  private async runIsolated<K extends DomainEventName>(
    subscription: EventSubscription,
    event: K,
    payload: DomainEvents[K],
  ): Promise<void> {
    const { plugin } = subscription;
    const fail = (error: unknown, message: string) => {
      this.failures.inc({ plugin, hook: `event:${event}` });
      this.logger.error({ err: error, plugin, event }, message);
    };
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const running = Promise.resolve()
      .then(() => (subscription.handler as (p: DomainEvents[K]) => Promise<void> | void)(payload))
      .then(
        () => undefined,
        (error: unknown) => {
          // A handler that fails after its timeout was already counted once.
          if (timedOut) this.logger.error({ err: error, plugin, event }, 'event handler failed after timing out');
          else fail(error, 'event handler failed');
        },
      );
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        fail(new Error(`no answer within ${this.handlerTimeoutMs} ms`), 'event handler timed out');
        resolve();
      }, this.handlerTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([running, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}
