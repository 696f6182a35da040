import {
  browserSessionsRef,
  companyPortalRef,
  definePlugin,
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceReadinessRef,
  enrollmentAttemptsRef,
  enrollmentSessionsRef,
  type PluginContext,
  profileResolverRef,
  unenrollmentRef,
} from 'enrollment-gateway/sdk';
import { buildAssets } from './src/assets.js';
import { PortalAttempts } from './src/attempts.js';
import { type PortalConfig, portalConfigSchema } from './src/config.js';
import type { PortalDeps } from './src/deps.js';
import { LiveNotices, StreamSlots } from './src/live.js';
import { mountAssetRoutes } from './src/routes/asset-routes.js';
import { mountDeviceRoutes } from './src/routes/device-routes.js';
import { DEEP_LINK, mountEnrollRoutes } from './src/routes/enroll-routes.js';
import { DeviceNames } from './src/storage/device-names.js';
import { PortalState } from './src/stores.js';
import { translator } from './src/strings.js';

/** DeviceInformation answers the device page shows after "Check status". */
const CHECK_ANSWER_KEYS = ['OSVersion', 'DeviceName', 'BatteryLevel', 'AvailableDeviceCapacity', 'DeviceCapacity'];

function buildDeps(ctx: PluginContext<PortalConfig>): PortalDeps {
  // One organisation name for the whole gateway (the core's organizationName); the old key still overrides it.
  const config = { ...ctx.config, organizationName: ctx.config.organizationName ?? ctx.gateway.organizationName };
  return {
    ctx,
    config,
    t: translator(config.locale, { org: config.organizationName }),
    assets: buildAssets(config),
    sessions: () => ctx.tryResolve(browserSessionsRef),
    resolver: () => ctx.tryResolve(profileResolverRef),
    enrollments: () => ctx.resolve(enrollmentSessionsRef),
    directory: () => ctx.resolve(deviceDirectoryRef),
    commands: () => ctx.resolve(deviceCommandsRef),
    readiness: () => ctx.tryResolve(deviceReadinessRef),
    attemptsReport: () => ctx.tryResolve(enrollmentAttemptsRef),
    unenrollment: () => ctx.tryResolve(unenrollmentRef),
    names: new DeviceNames(ctx.mongo),
    state: new PortalState(ctx.redis, ctx.redisKeyPrefix),
    attempts: new PortalAttempts(ctx.events, ctx.redis, ctx.redisKeyPrefix, ctx.logger),
    live: new LiveNotices(ctx),
    // A slot lapses a little after the longest a stream may live, in case its replica died holding it.
    streamSlots: new StreamSlots(
      ctx.redis,
      ctx.redisKeyPrefix,
      config.liveStreamsPerUser,
      (config.liveStreamSeconds + 30) * 1000,
    ),
  };
}

/**
 * The Company Portal website: sign-in, device detection, web enrollment with live status, My devices
 * (rename, check status, remove), troubleshooting and Home Screen guidance. Server-rendered, strict CSP.
 */
export default definePlugin({
  name: 'company-portal',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Company Portal website: web enrollment, live status and My devices for device users',
  dependsOn: ['mdm'],
  optionalDependsOn: [
    'identity-entra',
    'enrollment-profiles',
    'jit-registration',
    'unenrollment',
    'enrollment-insights',
  ],
  config: portalConfigSchema,
  emits: ['enrollment.step'],
  register(api) {
    let built: PortalDeps | undefined;
    const deps = (ctx: PluginContext<PortalConfig>) => {
      built ??= buildDeps(ctx);
      return built;
    };

    api.provide(companyPortalRef, (ctx) => ({
      url: `${ctx.gateway.publicUrl}/`,
      enrollmentLink: `${ctx.gateway.publicUrl}${DEEP_LINK}`,
      organizationName: ctx.config.organizationName,
      homeScreenIcon: () => deps(ctx).assets.icon.body,
    }));

    api.routes({
      prefix: '',
      mount(router, ctx) {
        mountAssetRoutes(router, deps(ctx).assets);
        mountEnrollRoutes(router, deps(ctx));
        mountDeviceRoutes(router, deps(ctx));
      },
    });

    // Live pages follow these events wherever they are raised (gateway or worker); the notice goes through Redis.
    api.on('device.enrolled', async (event, ctx) => {
      await deps(ctx).live.publish({
        deviceId: event.deviceId,
        userId: event.userId,
        enrollmentId: event.enrollmentId,
      });
    });
    api.on('device.checkedOut', async (event, ctx) => {
      await deps(ctx).live.publish({ deviceId: event.deviceId });
    });
    api.on('device.unenrolled', async (event, ctx) => {
      await deps(ctx).live.publish({ deviceId: event.deviceId });
    });
    api.on('command.result', async (event, ctx) => {
      const { state, live } = deps(ctx);
      if (event.requestType === 'DeviceInformation') {
        const responses = (event.result.QueryResponses ?? {}) as Record<string, unknown>;
        const answer = Object.fromEntries(
          CHECK_ANSWER_KEYS.filter((key) => ['string', 'number', 'boolean'].includes(typeof responses[key])).map(
            (key) => [key, responses[key] as string | number | boolean],
          ),
        );
        const outcome = event.status === 'Acknowledged' ? 'answered' : event.status === 'NotNow' ? 'not-now' : 'failed';
        await state.answerCheck(event.deviceId, event.commandUuid, outcome, answer);
      }
      await live.publish({ deviceId: event.deviceId });
    });

    api.onStart(async (ctx) => {
      await new DeviceNames(ctx.mongo).ensureIndexes();
      if (!ctx.tryResolve(browserSessionsRef)) {
        ctx.logger.warn('no identity plugin provides browser sessions: the portal shows "sign-in is not set up yet"');
      }
    });
    api.onStop(async (ctx) => {
      await deps(ctx).live.stop();
    });
  },
});
