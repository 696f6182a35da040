import { DelayedError } from 'bullmq';
import {
  auditLogRef,
  collectExtensions,
  definePlugin,
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceRetirementRef,
  enrollmentSessionsRef,
  managedItemsPoint,
  type PluginContext,
  unenrollmentRef,
  userDirectoryRef,
} from 'enrollment-gateway/sdk';
import { type UnenrollmentConfig, unenrollmentConfigSchema } from './src/config.js';
import { JobControl, MAINTENANCE_QUEUE, type MaintenanceJob, UNENROLL_QUEUE, type UnenrollJob } from './src/jobs.js';
import { mountUnenrollmentRoutes } from './src/routes.js';
import { UnenrollmentRunner } from './src/runner.js';
import { Unenrollments } from './src/service.js';
import { MongoUnenrollmentRecords } from './src/storage/unenrollment-records.js';
import { sweep } from './src/sweep.js';

const DAY_MS = 86_400_000;

function buildServices(ctx: PluginContext<UnenrollmentConfig>) {
  const records = new MongoUnenrollmentRecords(ctx.mongo);
  const jobs = new JobControl(
    () => ctx.queue<UnenrollJob>(UNENROLL_QUEUE),
    () => ctx.queue<MaintenanceJob>(MAINTENANCE_QUEUE),
    ctx.config,
    ctx.logger,
  );
  const unenrollments = new Unenrollments({
    records,
    directory: () => ctx.resolve(deviceDirectoryRef),
    retirement: () => ctx.resolve(deviceRetirementRef),
    collectItems: async (deviceId) =>
      (
        await collectExtensions(ctx, managedItemsPoint, (source) => source.installedOn(deviceId), { timeoutMs: 10_000 })
      ).map((outcome) => ({ plugin: outcome.plugin, items: outcome.value })),
    jobs,
    logger: ctx.logger,
  });
  const runner = new UnenrollmentRunner({
    records,
    retirement: () => ctx.resolve(deviceRetirementRef),
    directory: () => ctx.resolve(deviceDirectoryRef),
    commands: () => ctx.resolve(deviceCommandsRef),
    audit: () => ctx.tryResolve(auditLogRef),
    events: ctx.events,
    config: ctx.config,
    logger: ctx.logger,
  });
  return { records, jobs, unenrollments, runner };
}

export default definePlugin({
  name: 'unenrollment',
  version: '1.0.0',
  // 1.1: unenrollmentRef, managedItemsPoint and deviceRetirementRef.
  coreApi: '^2.12.0',
  description: 'Unenrollment and retirement: removes what the gateway installed, revokes and crypto-erases the rest',
  dependsOn: ['mdm', 'admin-access'],
  // identity-entra: the user directory for retiring every device of a disabled user.
  optionalDependsOn: ['identity-entra'],
  config: unenrollmentConfigSchema,
  emits: ['device.unenrolled'],
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<UnenrollmentConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };
    api.extensionPoint(managedItemsPoint);
    api.provide(unenrollmentRef, (ctx) => services(ctx).unenrollments);

    api.on('device.checkedOut', async (event, ctx) => {
      await services(ctx).unenrollments.start({
        deviceId: event.deviceId,
        trigger: 'checkout',
        requestedBy: { kind: 'device', id: event.udid },
      });
    });
    // An answer to a removal wakes the waiting job at once, rather than at its next poll.
    api.on('command.result', async (event, ctx) => {
      if (event.requestType !== 'RemoveApplication' && event.requestType !== 'RemoveProfile') return;
      const { records, jobs } = services(ctx);
      for (const { id } of await records.inProgress(event.deviceId)) await jobs.wake(id);
    });

    api.queue<UnenrollJob>({
      name: UNENROLL_QUEUE,
      concurrency: api.config.concurrency,
      worker: {
        lockDuration: api.config.lockDurationMs,
        stalledInterval: Math.max(250, api.config.lockDurationMs / 2),
      },
      async processor(job, ctx) {
        const { records, jobs, runner } = services(ctx);
        const { deviceId, unenrollmentId } = job.data;
        if (!unenrollmentId) {
          // A job queued by 1.0 (one per device): hand each unfinished unenrollment its own job.
          const open = await records.inProgress(deviceId);
          for (const { id } of open) await jobs.ensure(id, deviceId);
          return { handedOver: open.length };
        }
        const outcome = await runner.advance(unenrollmentId);
        if (outcome.kind === 'wait') {
          // Waiting for the device costs no worker slot: the job sleeps in Redis until the poll or a wake-up.
          await job.moveToDelayed(outcome.until.getTime(), job.token);
          throw new DelayedError();
        }
        return { finished: true };
      },
    });

    api.queue<MaintenanceJob>({
      name: MAINTENANCE_QUEUE,
      async processor(job, ctx) {
        const { records, jobs, unenrollments } = services(ctx);
        if (job.data.kind === 'sweep') return sweep(ctx, records, jobs);
        const before = new Date(Date.now() - ctx.config.inactivityDays * DAY_MS);
        const silent = await ctx.resolve(deviceRetirementRef).inactiveSince(before, 200);
        for (const device of silent) {
          await unenrollments.start({
            deviceId: device.id,
            trigger: 'inactivity',
            requestedBy: {
              kind: 'system',
              id: 'inactivity-policy',
              displayName: `No check-in for ${ctx.config.inactivityDays} days`,
            },
          });
        }
        return { retired: silent.length };
      },
    });

    let schedulerTimer: NodeJS.Timeout | undefined;
    api.onStart(async (ctx) => {
      await services(ctx).records.ensureIndexes();
      if (ctx.gateway.role === 'serve') return;
      const { jobs } = services(ctx);
      await jobs.ensureSchedulers();
      schedulerTimer = setInterval(() => {
        jobs.ensureSchedulers().catch((error: Error) => {
          ctx.logger.warn({ err: { message: error.message } }, 'could not check the unenrollment schedules');
        });
      }, ctx.config.sweepIntervalMs);
      schedulerTimer.unref();
    });
    api.onStop(() => {
      clearInterval(schedulerTimer);
    });

    api.routes({
      prefix: '/api/unenrollment',
      mount: (router, ctx) =>
        mountUnenrollmentRoutes(router, ctx, {
          unenrollments: services(ctx).unenrollments,
          directory: () => ctx.resolve(deviceDirectoryRef),
          users: () => ctx.tryResolve(userDirectoryRef),
          enrollments: () => ctx.resolve(enrollmentSessionsRef),
        }),
    });
  },
});
