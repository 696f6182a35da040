import {
  declarationsPoint,
  declarativeManagementRef,
  definePlugin,
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceReadinessRef,
  legacyProfilesPoint,
  managedItemsPoint,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { defaultProfileIdentifierBase, type JitConfig, jitConfigSchema } from './src/config.js';
import { appStatusSubscription } from './src/ddm-apps.js';
import { SSO_DECLARATION_IDENTIFIER } from './src/ddm-sso.js';
import { RegistrationService } from './src/registration-service.js';
import { mountJitRoutes } from './src/routes.js';
import { defaultSsoPolicy } from './src/sso-policy.js';
import { MongoJitDevices } from './src/storage/jit-devices.js';
import { ssoPolicyStore } from './src/storage/sso-policy-store.js';

const READINESS_QUEUE = 'jit-readiness';

interface ReadinessJob {
  deviceId: string;
  /** The registration run this chain of checks follows (absent in jobs queued before runs). */
  runId?: string;
  /** 1 for the first check; each check that finds the device waiting queues the next. */
  attempt?: number;
}

/**
 * One job per check, each queueing the next with a doubling delay: waiting is not a failure, so nothing logs
 * "job failed" on every attempt. The id names the run and the attempt, so a redelivered job queues its successor
 * once and a re-enrollment's chain never collides with the old one (which stops when it sees the newer run).
 */
const readinessJobId = (deviceId: string, runId: string | undefined, attempt: number) =>
  `ready-${deviceId}-${runId ?? 'legacy'}-${attempt}`;

function buildServices(ctx: PluginContext<JitConfig>) {
  const devices = new MongoJitDevices(ctx.mongo);
  const policies = ssoPolicyStore(ctx.mongo, () => defaultSsoPolicy(ctx.config));
  const registration = new RegistrationService(
    devices,
    policies,
    () => ctx.resolve(deviceCommandsRef),
    () => ctx.resolve(deviceDirectoryRef),
    {
      identifierBase: ctx.config.profileIdentifierBase ?? defaultProfileIdentifierBase(ctx.gateway.publicUrl),
      organization: ctx.config.organizationName ?? ctx.gateway.organizationName,
    },
    ctx.logger,
    () => ctx.tryResolve(declarativeManagementRef),
  );
  return { devices, policies, registration };
}

/** Queues check `attempt` of a run, after the doubling backoff (the first waits one backoff). */
async function queueCheck(
  ctx: PluginContext<JitConfig>,
  check: Required<Pick<ReadinessJob, 'deviceId' | 'attempt'>> & ReadinessJob,
) {
  const delay = ctx.config.readinessBackoffMs * 2 ** (check.attempt - 1);
  await ctx.queue<ReadinessJob>(READINESS_QUEUE).add('check', check, {
    jobId: readinessJobId(check.deviceId, check.runId, check.attempt),
    delay,
    // Retries only for a check that threw (database or Redis down), not for a device that is still waiting.
    attempts: 3,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: true,
    removeOnFail: true,
  });
}

export default definePlugin({
  name: 'jit-registration',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description:
    'Just-in-time Entra registration: installs Authenticator and the Enterprise SSO profile on enrolled devices',
  dependsOn: ['mdm'],
  // unenrollment, when enabled, asks what this plugin installed so it can remove it; ddm, when enabled, reports the
  // device's managed apps by declarative status, so readiness needs no ManagedApplicationList.
  optionalDependsOn: ['admin-access', 'unenrollment', 'ddm'],
  config: jitConfigSchema,
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<JitConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };
    api.provide(deviceReadinessRef, (ctx) => services(ctx).registration);
    api.contribute(managedItemsPoint, (ctx) => services(ctx).registration);

    api.on('device.enrolled', async (event, ctx, meta) => {
      const runId = await services(ctx).registration.start(event.deviceId, meta.eventId);
      await queueCheck(ctx, { deviceId: event.deviceId, runId, attempt: 1 });
    });

    api.on('command.result', async (event, ctx) => {
      await services(ctx).registration.onCommandResult(event);
    });

    // Devices that speak DDM report their MDM-installed apps (mdm.app) when they change: subscribe them to it, and
    // record Authenticator's state from each change (an inserted observation, as for a ManagedApplicationList).
    api.contribute(declarationsPoint, () => ({ declarationsFor: async (target) => appStatusSubscription(target) }));
    api.on('ddm.statusChanged', async (event, ctx, meta) => {
      await services(ctx).registration.onDdmStatus(event, meta.eventId);
    });
    // Devices that take declarations get the SSO profile as a legacy declaration (decided per run on enrollment);
    // its install step follows the declaration's status (management.declarations).
    api.contribute(legacyProfilesPoint, (ctx) => ({
      identifier: SSO_DECLARATION_IDENTIFIER,
      profileFor: (target) => services(ctx).registration.legacyProfileFor(target.deviceId),
    }));

    api.queue<ReadinessJob>({
      name: READINESS_QUEUE,
      concurrency: 5,
      async processor(job, ctx) {
        const { deviceId, runId } = job.data;
        const attempt = job.data.attempt ?? 1;
        const attempts = ctx.config.readinessAttempts;
        const lastAttempt = attempt >= attempts;
        const outcome = await services(ctx).registration.check(deviceId, lastAttempt, runId);
        // Logged only when it is news: the first wait, a refusal, giving up. Not every attempt.
        if (outcome === 'waiting' && !lastAttempt) {
          if (attempt === 1) ctx.logger.info({ deviceId, attempts }, 'device not ready yet; checking again');
          await queueCheck(ctx, { deviceId, runId, attempt: attempt + 1 });
        } else if (outcome === 'waiting') {
          ctx.logger.warn({ deviceId, attempts }, 'device never became ready; gave up, it needs attention');
        } else if (outcome === 'failed') {
          ctx.logger.warn({ deviceId, attempt }, 'device refused an install; it needs attention, not checking again');
        }
        return { outcome, attempt };
      },
    });

    api.routes({
      prefix: '/api/jit',
      mount: (router, ctx) =>
        mountJitRoutes(router, ctx, {
          ...services(ctx),
          // A new policy changes the profile devices get by declaration: they re-sync (commands stay as sent).
          policySaved: async () => ctx.tryResolve(declarativeManagementRef)?.requestSyncAll?.(),
        }),
    });
  },
});
