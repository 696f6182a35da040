import {
  definePlugin,
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceReadinessRef,
  managedItemsPoint,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { defaultProfileIdentifierBase, type JitConfig, jitConfigSchema } from './src/config.js';
import { jitModels } from './src/models.js';
import { ssoPolicyStore } from './src/policy-store.js';
import { RegistrationService } from './src/registration-service.js';
import { mountJitRoutes } from './src/routes.js';
import { defaultSsoPolicy } from './src/sso-policy.js';

const READINESS_QUEUE = 'jit-readiness';

interface ReadinessJob {
  deviceId: string;
}

function buildServices(ctx: PluginContext<JitConfig>) {
  const models = jitModels(ctx.mongo);
  const policies = ssoPolicyStore(ctx.mongo, () => defaultSsoPolicy(ctx.config));
  const registration = new RegistrationService(
    models,
    policies,
    () => ctx.resolve(deviceCommandsRef),
    () => ctx.resolve(deviceDirectoryRef),
    {
      identifierBase: ctx.config.profileIdentifierBase ?? defaultProfileIdentifierBase(ctx.gateway.publicUrl),
      organization: ctx.config.organizationName,
    },
    ctx.logger,
  );
  return { models, policies, registration };
}

/** Thrown to make BullMQ retry the readiness check with exponential backoff. */
class NotReadyYet extends Error {
  constructor(deviceId: string) {
    super(`device ${deviceId} is not ready yet`);
    this.name = 'NotReadyYet';
  }
}

export default definePlugin({
  name: 'jit-registration',
  version: '1.0.0',
  coreApi: '^1.0.0',
  description:
    'Just-in-time Entra registration: installs Authenticator and the Enterprise SSO profile on enrolled devices',
  dependsOn: ['mdm'],
  // unenrollment, when enabled, asks what this plugin installed so it can remove it.
  optionalDependsOn: ['admin-access', 'unenrollment'],
  config: jitConfigSchema,
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<JitConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };
    api.provide(deviceReadinessRef, (ctx) => services(ctx).registration);
    api.contribute(managedItemsPoint, (ctx) => services(ctx).registration);

    api.on('device.enrolled', async (event, ctx) => {
      await services(ctx).registration.start(event.deviceId);
      const handle = ctx.queue<ReadinessJob>(READINESS_QUEUE);
      // BullMQ job ids may not contain ':'; one job per device, replaced on re-enrollment.
      const jobId = `ready-${event.deviceId}`;
      await handle.queue.remove(jobId).catch(() => 0);
      await handle.add(
        'check',
        { deviceId: event.deviceId },
        {
          jobId,
          delay: ctx.config.readinessBackoffMs,
          attempts: ctx.config.readinessAttempts,
          backoff: { type: 'exponential', delay: ctx.config.readinessBackoffMs },
          removeOnComplete: true,
          removeOnFail: true,
        },
      );
    });

    api.on('command.result', async (event, ctx) => {
      await services(ctx).registration.onCommandResult(event);
    });

    api.queue<ReadinessJob>({
      name: READINESS_QUEUE,
      concurrency: 5,
      async processor(job, ctx) {
        const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        const outcome = await services(ctx).registration.check(job.data.deviceId, lastAttempt);
        if (outcome === 'waiting' && !lastAttempt) throw new NotReadyYet(job.data.deviceId);
        return { outcome };
      },
    });

    api.routes({
      prefix: '/api/jit',
      mount: (router, ctx) => mountJitRoutes(router as never, ctx as PluginContext<unknown>, services(ctx)),
    });
  },
});
