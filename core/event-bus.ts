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

/**
 * In-process dispatch of domain events to the handlers plugins declared. Handlers are meant to
 * do durable work through queues, so a replica only runs handlers for events it raised itself.
 * A failing handler is logged and counted; it never fails the emitter.
 */
export class EventBus {
  private readonly handlers = new Map<DomainEventName, EventSubscription[]>();

  constructor(
    private readonly logger: Logger,
    private readonly failures: Counter<'plugin' | 'hook'>,
  ) {}

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
    await Promise.all(
      subscribers.map(async (subscription) => {
        try {
          await (subscription.handler as (p: DomainEvents[K]) => Promise<void> | void)(payload);
        } catch (error) {
          this.failures.inc({ plugin: subscription.plugin, hook: `event:${event}` });
          this.logger.error({ err: error, plugin: subscription.plugin, event }, 'event handler failed');
        }
      }),
    );
  }
}
