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
import { unenrollmentModels } from './src/models.js';
import { mountUnenrollmentRoutes } from './src/routes.js';
import { UnenrollmentRunner } from './src/runner.js';
import { Unenrollments } from './src/service.js';

const DAY_MS = 86_400_000;
/** A device's job finishes its unenrollments one after another; this bounds one run. */
const MAX_ROUNDS = 10;

function buildServices(ctx: PluginContext<UnenrollmentConfig>) {
  const models = unenrollmentModels(ctx.mongo);
  const jobs = new JobControl(
    () => ctx.queue<UnenrollJob>(UNENROLL_QUEUE),
    () => ctx.queue<MaintenanceJob>(MAINTENANCE_QUEUE),
    ctx.config,
    ctx.logger,
  );
  const unenrollments = new Unenrollments({
    models,
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
    models,
    retirement: () => ctx.resolve(deviceRetirementRef),
    directory: () => ctx.resolve(deviceDirectoryRef),
    commands: () => ctx.resolve(deviceCommandsRef),
    audit: () => ctx.tryResolve(auditLogRef),
    events: ctx.events,
    config: ctx.config,
    logger: ctx.logger,
  });
  return { models, jobs, unenrollments, runner };
}

export default definePlugin({
  name: 'unenrollment',
  version: '1.0.0',
  // 1.1: unenrollmentRef, managedItemsPoint and deviceRetirementRef.
  coreApi: '^1.1.0',
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
      const running = await services(ctx).models.unenrollments.exists({
        deviceId: event.deviceId,
        state: 'in-progress',
      });
      if (running) await services(ctx).jobs.wake(event.deviceId);
    });

    api.queue<UnenrollJob>({
      name: UNENROLL_QUEUE,
      concurrency: api.config.concurrency,
      worker: {
        lockDuration: api.config.lockDurationMs,
        stalledInterval: Math.max(250, api.config.lockDurationMs / 2),
      },
      async processor(job, ctx) {
        const { models, runner } = services(ctx);
        for (let round = 0; round < MAX_ROUNDS; round++) {
          const next = await models.unenrollments
            .findOne({ deviceId: job.data.deviceId, state: 'in-progress' }, { _id: 1 })
            .sort({ startedAt: 1 })
            .lean();
          if (!next) return { finished: round };
          const outcome = await runner.advance(next._id);
          if (outcome.kind === 'wait') {
            // Waiting for the device costs no worker slot: the job sleeps in Redis until the poll or a wake-up.
            await job.moveToDelayed(outcome.until.getTime(), job.token);
            throw new DelayedError();
          }
        }
        throw new Error(`device ${job.data.deviceId} still has unfinished unenrollments after ${MAX_ROUNDS} rounds`);
      },
    });

    api.queue<MaintenanceJob>({
      name: MAINTENANCE_QUEUE,
      async processor(job, ctx) {
        const { models, jobs, unenrollments } = services(ctx);
        if (job.data.kind === 'sweep') {
          const deviceIds = (await models.unenrollments.distinct('deviceId', { state: 'in-progress' })) as string[];
          let requeued = 0;
          for (const deviceId of deviceIds) if (await jobs.ensure(deviceId)) requeued++;
          if (requeued > 0) ctx.logger.warn({ requeued }, 're-queued unenrollments whose job was gone');
          return { inProgress: deviceIds.length, requeued };
        }
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
      const { models } = services(ctx);
      await Promise.all([models.unenrollments.init(), models.requests.init()]);
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
        mountUnenrollmentRoutes(router as never, ctx as PluginContext<unknown>, {
          unenrollments: services(ctx).unenrollments,
          directory: () => ctx.resolve(deviceDirectoryRef),
          users: () => ctx.tryResolve(userDirectoryRef),
          enrollments: () => ctx.resolve(enrollmentSessionsRef),
        }),
    });
  },
});
