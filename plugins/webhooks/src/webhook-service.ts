import { createHash, randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { ConflictProblem, NotFoundProblem, type PluginContext, type QueueHandle } from 'enrollment-gateway/sdk';
import type { WebhookEndpoint, WebhookEventType, WebhooksConfig } from './config.js';
import { type DeliveryJob, deliverOnce, toJsonSafe } from './delivery.js';
import {
  type DeadLetterBurials,
  type DeadLetterDoc,
  type DeadLetterReader,
  type DeadLetterRemovals,
  deliveryIdOf,
} from './storage/dead-letters.js';

/** One try of a delivery: its BullMQ job id and, if it dies, its dead letter's id. BullMQ refuses ':'; ours are safe. */
export const jobIdFor = (deliveryId: string, replays: number) =>
  replays === 0 ? deliveryId : `${deliveryId}.r${replays}`;

/**
 * The event id: random, unless the payload (`eventId`, e.g. one unenrollment) or the gateway event (its durable
 * event id, which every delivery of it carries) names the fact it reports. Then
 * a repeat of the same fact (an emitter that crashed after raising it) gets the same id, so the Webhook-Id
 * header repeats and the delivery job id too (BullMQ keeps one job per id).
 */
export function eventIdFor(type: string, payload: unknown, sourceEventId?: string): string {
  const stable = (payload as { eventId?: unknown } | null)?.eventId ?? sourceEventId;
  if (typeof stable !== 'string' || stable.length === 0) return randomUUID();
  const h = createHash('sha256').update(`${type}\n${stable}`).digest('hex');
  // Shaped as a version-8 (custom) UUID, like the random ones.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((Number.parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Deliveries failed by BullMQ looked at per sweep. */
const FAILED_BATCH = 200;

/** Fans events out to the endpoints that asked for them, delivers with retries, keeps the dead letters. */
export class WebhookService {
  private readonly endpoints: ReadonlyMap<string, WebhookEndpoint>;
  private readonly deliveries;
  private readonly duration;

  constructor(
    private readonly ctx: PluginContext<WebhooksConfig>,
    private readonly deadLetters: DeadLetterBurials &
      Pick<DeadLetterReader, 'get'> &
      Pick<DeadLetterRemovals, 'remove'>,
    private readonly queue: () => QueueHandle<DeliveryJob>,
  ) {
    this.endpoints = new Map(ctx.config.endpoints.map((endpoint) => [endpoint.name, endpoint]));
    this.deliveries = ctx.metrics.counter('webhook_deliveries_total', 'Webhook delivery attempts by outcome', [
      'endpoint',
      'outcome',
    ]);
    this.duration = ctx.metrics.histogram(
      'webhook_delivery_duration_seconds',
      'Time for a receiver to answer a delivery',
      ['endpoint'],
    );
  }

  listEndpoints(): { name: string; url: string; events: readonly string[] }[] {
    return [...this.endpoints.values()].map(({ name, url, events }) => ({ name, url, events }));
  }

  private jobOptions(jobId: string) {
    const { maxAttempts, backoffMs } = this.ctx.config;
    return {
      jobId,
      attempts: maxAttempts,
      backoff: { type: 'exponential', delay: backoffMs },
      removeOnComplete: { age: 86_400, count: 10_000 },
      removeOnFail: { age: 7 * 86_400 },
    };
  }

  /** One job per subscribed endpoint; the event id is shared so receivers can correlate and de-duplicate. */
  async publish(type: WebhookEventType, payload: unknown, only?: string, sourceEventId?: string): Promise<string[]> {
    const eventId = eventIdFor(type, payload, sourceEventId);
    const occurredAt = new Date().toISOString();
    const data = toJsonSafe(payload);
    const targets = [...this.endpoints.values()].filter((endpoint) =>
      only ? endpoint.name === only : (endpoint.events as readonly string[]).includes(type),
    );
    for (const endpoint of targets) {
      const deliveryId = `${eventId}.${endpoint.name}`;
      const job: DeliveryJob = { deliveryId, eventId, endpoint: endpoint.name, type, occurredAt, data, replays: 0 };
      await this.queue().add(type, job, this.jobOptions(jobIdFor(deliveryId, 0)));
    }
    return targets.map((endpoint) => `${eventId}.${endpoint.name}`);
  }

  async ping(endpointName: string): Promise<string> {
    if (!this.endpoints.has(endpointName)) throw new NotFoundProblem(`no endpoint named "${endpointName}"`);
    const [deliveryId] = await this.publish('webhook.ping', { endpoint: endpointName }, endpointName);
    return deliveryId;
  }

  /** The worker's side: one attempt; a failure throws so BullMQ retries, and the last one is dead-lettered. */
  async process(job: Job<DeliveryJob>): Promise<{ status: number }> {
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const endpoint = this.endpoints.get(data.endpoint);
    if (!endpoint) {
      await this.bury(data, { url: '(removed)', attempts: attempt, error: 'endpoint is no longer configured' });
      this.deliveries.inc({ endpoint: data.endpoint, outcome: 'dead' });
      return { status: 0 };
    }
    const result = await deliverOnce(
      endpoint,
      data,
      attempt,
      this.ctx.config.timeoutMs,
      `enrollment-gateway-webhooks/${this.ctx.plugin.version}`,
    );
    this.duration.observe({ endpoint: endpoint.name }, result.durationMs / 1000);
    if (result.ok) {
      this.deliveries.inc({ endpoint: endpoint.name, outcome: 'delivered' });
      return { status: result.status };
    }
    const last = attempt >= attempts;
    this.deliveries.inc({ endpoint: endpoint.name, outcome: last ? 'dead' : 'retry' });
    this.ctx.logger.warn(
      { deliveryId: data.deliveryId, endpoint: endpoint.name, attempt, attempts, error: result.error },
      last ? 'webhook delivery failed for the last time; dead-lettered' : 'webhook delivery failed; will retry',
    );
    if (last) {
      await this.bury(data, { url: endpoint.url, attempts: attempt, status: result.status, error: result.error });
      await job.updateData({ ...data, buried: true });
    }
    throw new Error(result.error);
  }

  /**
   * Dead-letters deliveries BullMQ failed without process() getting to bury them: a job stalled more often than
   * allowed, or the worker died during the last attempt. Every job in the failed set is final (a retry waits in
   * 'delayed'); each is stored under its delivery id (so a repeat replaces, never duplicates) and then removed,
   * so a later replay of the dead letter cannot bring it back.
   */
  async sweepFailed(): Promise<number> {
    const failed = await this.queue().queue.getFailed(0, FAILED_BATCH - 1);
    let buried = 0;
    for (const job of failed) {
      if (!job?.data?.deliveryId) continue;
      if (!job.data.buried) {
        const fresh = await this.bury(job.data, {
          url: this.endpoints.get(job.data.endpoint)?.url ?? '(removed)',
          attempts: Math.max(job.attemptsMade, 1),
          error: job.failedReason || 'the delivery job failed',
        });
        if (fresh) {
          this.deliveries.inc({ endpoint: job.data.endpoint, outcome: 'dead' });
          this.ctx.logger.warn(
            { deliveryId: job.data.deliveryId, reason: job.failedReason },
            'webhook delivery failed outside the worker; dead-lettered',
          );
          buried++;
        }
      }
      await job.remove().catch(() => undefined);
    }
    return buried;
  }

  /** Stores this try's dead letter; false when it was stored before (by the worker, or an earlier sweep). */
  private async bury(
    data: DeliveryJob,
    outcome: { url: string; attempts: number; status?: number; error: string },
  ): Promise<boolean> {
    try {
      return await this.deadLetters.bury({
        _id: jobIdFor(data.deliveryId, data.replays),
        deliveryId: data.deliveryId,
        eventId: data.eventId,
        endpoint: data.endpoint,
        url: outcome.url,
        type: data.type,
        occurredAt: data.occurredAt,
        data: data.data,
        attempts: outcome.attempts,
        replays: data.replays,
        lastStatus: outcome.status,
        lastError: outcome.error,
        deadAt: new Date(),
      });
    } catch (error) {
      // Nothing else keeps the event now: say exactly which one was lost.
      this.ctx.logger.error({ err: error, deliveryId: data.deliveryId }, 'could not store a webhook dead letter');
      throw error;
    }
  }

  /**
   * Queues a dead letter again with a fresh set of attempts and takes it off the list. Two replays at once
   * add the same job id, which BullMQ keeps once, so the receiver gets one delivery. If the replay dies too, its
   * dead letter is a new entry (the next try's id), so removing this one can never remove that one.
   */
  async replay(id: string): Promise<{ deadLetter: DeadLetterDoc; jobId: string }> {
    const deadLetter = await this.deadLetters.get(id);
    if (!deadLetter) throw new NotFoundProblem('no such dead letter');
    const deliveryId = deliveryIdOf(deadLetter);
    if (!this.endpoints.has(deadLetter.endpoint)) {
      throw new ConflictProblem(`endpoint "${deadLetter.endpoint}" is no longer configured; discard the dead letter`);
    }
    const replays = deadLetter.replays + 1;
    const jobId = jobIdFor(deliveryId, replays);
    const job: DeliveryJob = {
      deliveryId,
      eventId: deadLetter.eventId,
      endpoint: deadLetter.endpoint,
      type: deadLetter.type,
      occurredAt: deadLetter.occurredAt,
      data: deadLetter.data,
      replays,
    };
    await this.queue().add(deadLetter.type, job, this.jobOptions(jobId));
    await this.deadLetters.remove(deadLetter._id);
    return { deadLetter, jobId };
  }
}
