import {
  definePlugin,
  deviceDirectoryRef,
  enrollmentPayloadsPoint,
  mdmSetupRef,
  type PluginContext,
  profileResolverRef,
  userDirectoryRef,
} from 'enrollment-gateway/sdk';
import { ProfileCatalog } from './src/catalog.js';
import { ChangeLog } from './src/change-log.js';
import { type EnrollmentProfilesConfig, enrollmentProfilesConfigSchema } from './src/config.js';
import { mountLimitRoutes } from './src/http/limit-routes.js';
import { mountProfileRoutes } from './src/http/profile-routes.js';
import { mountSetupRoutes } from './src/http/setup-routes.js';
import { LimitPolicyStore } from './src/limit-store.js';
import { enrollmentModels, ensureIndexes } from './src/models.js';
import { ProfileStore } from './src/profile-store.js';
import { CatalogProfileResolver } from './src/resolver.js';
import { enrollmentVeto } from './src/veto.js';

const NAME = 'enrollment-profiles';

function buildServices(ctx: PluginContext<EnrollmentProfilesConfig>) {
  const models = enrollmentModels(ctx.mongo);
  const users = () => ctx.tryResolve(userDirectoryRef);
  const setup = () => ctx.tryResolve(mdmSetupRef);
  const reloads = ctx.metrics.histogram(
    'enrollment_profiles_reload_seconds',
    'Time to reload the profile cache',
    [],
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  );
  const outcomes = ctx.metrics.counter('enrollment_resolutions_total', 'Profile resolutions by outcome', ['outcome']);
  const log = new ChangeLog(models);
  const catalog = new ProfileCatalog({
    models,
    log,
    redis: ctx.redis,
    createSubscriber: () => ctx.createRedis('subscriber'),
    channel: `${ctx.redisKeyPrefix}profiles:changed`,
    refreshIntervalMs: ctx.config.refreshIntervalSeconds * 1000,
    logger: ctx.logger,
    onReload: (ms) => reloads.observe(ms / 1000),
  });
  const resolver = new CatalogProfileResolver({
    catalog,
    setup,
    devices: () => ctx.tryResolve(deviceDirectoryRef),
    defaultDeviceLimit: ctx.config.defaultDeviceLimit,
    onOutcome: (outcome) => outcomes.inc({ outcome }),
  });
  const store = new ProfileStore(models, log, users);
  const limits = new LimitPolicyStore(models, log, users);
  return { models, log, users, setup, catalog, resolver, store, limits };
}

/**
 * Who enrolls how: prioritized enrollment profiles with group assignments, OS gating, device
 * limits and setup checks, as in Intune's admin center.
 */
export default definePlugin({
  name: NAME,
  version: '1.0.0',
  coreApi: '^1.0.0',
  description: 'Enrollment profiles: priority, assignments, OS gating, device limits and setup checks',
  optionalDependsOn: ['admin-access', 'identity-entra', 'mdm'],
  config: enrollmentProfilesConfigSchema,
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<EnrollmentProfilesConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };
    api.provide(profileResolverRef, (ctx) => services(ctx).resolver);
    api.contribute(enrollmentPayloadsPoint, (ctx) => {
      const { resolver, users } = services(ctx);
      return enrollmentVeto(NAME, resolver, users);
    });
    api.onStart(async (ctx) => {
      const { models, catalog } = services(ctx);
      await ensureIndexes(models);
      await catalog.start();
    });
    api.onStop(async (ctx) => {
      await services(ctx).catalog.stop();
    });
    api.routes({
      prefix: '/api/enrollment-profiles',
      mount: (router, ctx) => mountProfileRoutes(router as never, ctx as PluginContext<unknown>, services(ctx)),
    });
    api.routes({
      prefix: '/api/device-limit-policies',
      mount: (router, ctx) =>
        mountLimitRoutes(router as never, ctx as PluginContext<unknown>, {
          ...services(ctx),
          defaultLimit: ctx.config.defaultDeviceLimit,
        }),
    });
    api.routes({
      prefix: '/api/setup',
      mount: (router, ctx) => mountSetupRoutes(router as never, ctx as PluginContext<unknown>, services(ctx)),
    });
    api.readiness('profile-cache', async (ctx) => {
      if (services(ctx).catalog.revision === undefined) throw new Error('enrollment profiles not loaded yet');
    });
  },
});
