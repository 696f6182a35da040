import { adminNavigationPoint, type DomainEventName, definePlugin, type PluginContext } from 'enrollment-gateway/sdk';
import { WEBHOOK_EVENTS, type WebhooksConfig, webhooksConfigSchema } from './src/config.js';
import { DELIVERY_QUEUE, type DeliveryJob } from './src/delivery.js';
import { mountWebhookRoutes, WEBHOOKS_READ } from './src/routes.js';
import { MongoDeadLetters } from './src/storage/dead-letters.js';
import { WebhookService } from './src/webhook-service.js';

const MAINTENANCE_QUEUE = 'webhook-maintenance';

function buildServices(ctx: PluginContext<WebhooksConfig>) {
  const deadLetters = new MongoDeadLetters(ctx.mongo);
  const webhooks = new WebhookService(ctx, deadLetters, () => ctx.queue<DeliveryJob>(DELIVERY_QUEUE));
  return { deadLetters, webhooks };
}

/**
 * Example plugin written only against the SDK: signed JSON webhooks for device events, delivered through
 * BullMQ with retries and exponential backoff, and a dead-letter list admins can inspect and replay.
 */
export default definePlugin({
  name: 'webhooks',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Signed JSON webhooks for device events, with retries and a replayable dead-letter list',
  // Guarded admin routes need admin-access; the navigation point belongs to no plugin.
  optionalDependsOn: ['admin-access'],
  config: webhooksConfigSchema,
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<WebhooksConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };

    const forward = <K extends DomainEventName & (typeof WEBHOOK_EVENTS)[number]>(event: K) =>
      api.on(event, async (payload, ctx, meta) => {
        // The event id makes a repeat delivery the same webhook (same Webhook-Id, same job).
        await services(ctx).webhooks.publish(event, payload, undefined, meta.eventId);
      });
    for (const event of WEBHOOK_EVENTS) forward(event);

    api.queue<DeliveryJob>({
      name: DELIVERY_QUEUE,
      concurrency: api.config.concurrency,
      processor: (job, ctx) => services(ctx).webhooks.process(job),
    });

    api.queue<{ kind: 'prune' | 'failed' }>({
      name: MAINTENANCE_QUEUE,
      async processor(job, ctx) {
        if (job.data.kind === 'failed') return { buried: await services(ctx).webhooks.sweepFailed() };
        const cutoff = new Date(Date.now() - ctx.config.deadLetterRetentionDays * 86_400_000);
        return { pruned: await services(ctx).deadLetters.prune(cutoff) };
      },
    });

    api.onStart(async (ctx) => {
      await services(ctx).deadLetters.ensureIndexes();
      if (ctx.config.endpoints.length === 0) ctx.logger.warn('no webhook endpoints configured; nothing will be sent');
      if (ctx.gateway.role === 'serve') return;
      const maintenance = ctx.queue<{ kind: 'prune' | 'failed' }>(MAINTENANCE_QUEUE).queue;
      await maintenance.upsertJobScheduler(
        'webhook-prune',
        { every: 3_600_000 },
        { name: 'prune', data: { kind: 'prune' }, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
      await maintenance.upsertJobScheduler(
        'webhook-failed-sweep',
        { every: ctx.config.failedSweepIntervalMs },
        { name: 'failed', data: { kind: 'failed' }, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
    });

    api.routes({
      prefix: '/api/webhooks',
      mount: (router, ctx) => mountWebhookRoutes(router, ctx, services(ctx)),
    });

    api.contribute(adminNavigationPoint, () => ({
      id: 'webhooks',
      label: 'Webhooks',
      // The admin center's page (receivers, undelivered events, replay); the API stays for automation.
      path: '/admin/webhooks',
      scope: WEBHOOKS_READ,
      order: 200,
    }));
  },
});
