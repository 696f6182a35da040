import {
  definePlugin,
  type PluginContext,
  pushHealthRef,
  pushServiceRef,
  pushTargetSourcesPoint,
  pushTopicRef,
} from 'enrollment-gateway/sdk';
import { PushCertificateService } from './src/plugin/certificate-service.js';
import { type ApnsConfig, apnsConfigSchema } from './src/plugin/config.js';
import { PushFailureLog } from './src/plugin/failure-log.js';
import { checkExpiry, MAINTENANCE_QUEUE, type MaintenanceJobData, sweep } from './src/plugin/maintenance.js';
import { apnsMetrics } from './src/plugin/metrics.js';
import { PushStatsWindow, RedisPushOutcomeStore } from './src/plugin/outcome-storage.js';
import { ApnsProvider } from './src/plugin/provider.js';
import { PushHealth } from './src/plugin/push-health.js';
import { CoalescingPushService, PUSH_QUEUE, type PushJobData, PushScheduler } from './src/plugin/push-queue.js';
import { PushWorker } from './src/plugin/push-worker.js';
import { mountCertificateRoutes } from './src/plugin/routes.js';
import { PushTargets } from './src/plugin/targets.js';
import { PushControl, WakeLedger } from './src/plugin/wake-ledger.js';
import { MongoPushCertificates } from './src/storage/certificates.js';

/** Everything the plugin builds once per gateway, wired by hand. */
function buildServices(ctx: PluginContext<ApnsConfig>) {
  const config = ctx.config;
  const certificates = new PushCertificateService(new MongoPushCertificates(ctx.mongo), ctx.keyVault);
  const control = new PushControl(ctx.redis, ctx.redisKeyPrefix);
  const ledger = new WakeLedger(ctx.redis, ctx.redisKeyPrefix);
  const pushQueue = () => ctx.queue<PushJobData>(PUSH_QUEUE);
  const scheduler = new PushScheduler(pushQueue, config.coalesceMs);
  const push = new CoalescingPushService(ledger, scheduler, config.coalesceMs);
  const targets = new PushTargets(() => ctx.extensions(pushTargetSourcesPoint));
  const metrics = apnsMetrics(ctx.metrics);
  const provider = new ApnsProvider(certificates, control, config);
  const outcomes = new RedisPushOutcomeStore(ctx.redis, ctx.redisKeyPrefix);
  const stats = new PushStatsWindow(ctx.redis, ctx.redisKeyPrefix);
  const failureLog = new PushFailureLog(ctx.logger, config.failureLogIntervalSeconds * 1000);
  const health = new PushHealth(certificates, control, stats, config.healthWindowMinutes);
  const worker = new PushWorker({
    outcomes,
    stats,
    failureLog,
    ledger,
    scheduler,
    targets,
    provider,
    control,
    metrics,
    logger: ctx.logger,
    config,
    pauseQueue: () => pushQueue().queue.pause(),
  });
  return {
    certificates,
    control,
    ledger,
    scheduler,
    push,
    targets,
    metrics,
    provider,
    worker,
    pushQueue,
    outcomes,
    health,
    failureLog,
  };
}

type ApnsServices = ReturnType<typeof buildServices>;

export default definePlugin({
  name: 'apns',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Apple MDM push: certificate lifecycle, HTTP/2 provider, coalesced BullMQ push queue',
  // Not mdm: mdm optionally depends on apns (it wakes devices); devices reach us through push.targetSources.
  optionalDependsOn: ['admin-access'],
  config: apnsConfigSchema,
  register(api) {
    let built: ApnsServices | undefined;
    const services = (ctx: PluginContext<ApnsConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };
    const config = api.config;

    api.extensionPoint(pushTargetSourcesPoint);
    api.provide(pushServiceRef, (ctx) => services(ctx).push);
    api.provide(pushHealthRef, (ctx) => services(ctx).health);
    api.provide(pushTopicRef, (ctx) => ({ currentTopic: () => services(ctx).certificates.currentTopic() }));

    api.queue<PushJobData>({
      name: PUSH_QUEUE,
      concurrency: config.concurrency,
      // BullMQ's limiter counts jobs and is shared by every worker; a job sends at most batchSize pushes.
      limiter:
        config.rateLimitPerSecond > 0
          ? { max: Math.max(1, Math.floor(config.rateLimitPerSecond / config.batchSize)), duration: 1000 }
          : undefined,
      worker: {
        lockDuration: config.lockDurationMs,
        stalledInterval: config.stalledIntervalMs,
        maxStalledCount: config.maxStalledCount,
      },
      processor: (job, ctx) => services(ctx).worker.process(job),
    });

    api.queue<MaintenanceJobData>({
      name: MAINTENANCE_QUEUE,
      async processor(job, ctx) {
        const { certificates, metrics, targets, push } = services(ctx);
        if (job.data.kind === 'expiry-check') {
          const view = await checkExpiry(certificates, metrics, ctx.logger);
          return view ? { daysLeft: view.daysLeft } : { installed: false };
        }
        const woken = await sweep(
          targets,
          push,
          { afterMinutes: ctx.config.sweepAfterMinutes, limit: ctx.config.sweepLimit },
          ctx.logger,
        );
        return { woken };
      },
    });

    api.routes({
      prefix: '/api/apns',
      mount: (router, ctx) => {
        const { certificates, control, metrics, scheduler, health, outcomes } = services(ctx);
        mountCertificateRoutes(router, ctx, {
          certificates,
          control,
          health,
          outcomes,
          async installed(view) {
            metrics.daysLeft.set(view.daysLeft);
            await control.bumpCertificateVersion();
            if (await control.paused()) {
              await control.clearPause();
              await services(ctx).pushQueue().queue.resume();
              ctx.logger.info({ topic: view.topic }, 'new push certificate installed: sending resumed');
            }
            // Devices held back while sending was paused are due already.
            await scheduler.flushAt(Date.now(), 'resume');
          },
        });
      },
    });

    let gaugeTimer: NodeJS.Timeout | undefined;
    api.onStart(async (ctx) => {
      const { certificates, metrics } = services(ctx);
      await new MongoPushCertificates(ctx.mongo).ensureIndexes();
      await checkExpiry(certificates, metrics, ctx.logger, { repeat: true });
      // Every process keeps its own gauge current for /metrics; only the daily job announces thresholds.
      gaugeTimer = setInterval(
        () =>
          void certificates.activeDoc().then((doc) => doc?.notAfter && metrics.daysLeft.set(daysLeft(doc.notAfter))),
        3_600_000,
      );
      gaugeTimer.unref();
      if (ctx.gateway.role === 'serve') return;
      const maintenance = ctx.queue<MaintenanceJobData>(MAINTENANCE_QUEUE).queue;
      await maintenance.upsertJobScheduler(
        'apns-expiry-check',
        { every: ctx.config.expiryCheckHours * 3_600_000 },
        { name: 'expiry-check', data: { kind: 'expiry-check' } },
      );
      await maintenance.upsertJobScheduler(
        'apns-sweep',
        { every: ctx.config.sweepIntervalSeconds * 1000 },
        { name: 'sweep', data: { kind: 'sweep' } },
      );
    });
    api.onStop(async (ctx) => {
      if (gaugeTimer) clearInterval(gaugeTimer);
      services(ctx).failureLog.flush();
      await services(ctx).provider.close();
    });
    api.readiness('push-targets', async (ctx) => {
      if (services(ctx).targets.count === 0) throw new Error('no plugin contributes push targets (is mdm enabled?)');
    });
  },
});

function daysLeft(notAfter: Date): number {
  return Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
}
