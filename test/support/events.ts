import { EVENT_DELIVERY_QUEUE } from '../../core/events/bus.js';
import { EventOutbox } from '../../core/events/outbox.js';
import type { Gateway } from '../../core/gateway.js';
import type { DomainEventName } from '../../core/sdk/index.js';
import { eventually } from './eventually.js';

/**
 * Waits until the gateway's event deliveries are all done (none waiting, running or delayed for a retry).
 * Handlers run in workers after the request that raised the event has answered; a real iPhone would then
 * be woken by APNs, a simulated one polls when the test says so — after this.
 */
export async function eventsDelivered(gateway: Gateway, timeoutMs = 15_000): Promise<void> {
  const queue = gateway.context(gateway.pluginNames[0]).queue(EVENT_DELIVERY_QUEUE).queue;
  await eventually(async () => {
    const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    const pending = Object.values(counts).reduce((sum, n) => sum + n, 0);
    if (pending > 0) throw new Error(`${pending} event deliveries still pending: ${JSON.stringify(counts)}`);
  }, timeoutMs);
}

/**
 * Records an event in the outbox without queuing its delivery: what an emitter leaves behind when its process
 * dies between the two. Only the sweep can deliver it.
 */
export async function recordWithoutDelivery(
  gateway: Gateway,
  event: { eventId: string; name: DomainEventName; payload: unknown; emitter: string },
): Promise<void> {
  const outbox = new EventOutbox(gateway.context(gateway.pluginNames[0]).mongo);
  await outbox.record({
    _id: event.eventId,
    event: event.name,
    payload: event.payload,
    emitter: event.emitter,
    at: new Date(),
  });
}

/** The recorded event, payload decoded, as a delivery reads it. */
export function recordedEvent(gateway: Gateway, eventId: string) {
  return new EventOutbox(gateway.context(gateway.pluginNames[0]).mongo).find(eventId);
}
