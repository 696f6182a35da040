import {
  definePlugin,
  deviceDirectoryRef,
  enrollmentPayloadsPoint,
  identityProvidersPoint,
  mdmSetupRef,
  type PluginContext,
  profileResolverRef,
  pushHealthRef,
  userDirectoryRef,
} from 'enrollment-gateway/sdk';
import { ProfileCatalog } from './src/catalog.js';
import { ChangeLog } from './src/change-log.js';
import { type EnrollmentProfilesConfig, enrollmentProfilesConfigSchema } from './src/config.js';
import { mountGroupSearch } from './src/http/group-routes.js';
import { mountLimitRoutes } from './src/http/limit-routes.js';
import { mountProfileRoutes } from './src/http/profile-routes.js';
import { mountSetupRoutes } from './src/http/setup-routes.js';
import { LimitPolicyService } from './src/limit-service.js';
import { ProfileService } from './src/profile-service.js';
import { CatalogProfileResolver } from './src/resolver.js';
import { MongoEnrollmentRecords } from './src/storage/enrollment-records.js';
import { MongoIdempotencyKeys } from './src/storage/idempotency-keys.js';
import { enrollmentVeto } from './src/veto.js';

const NAME = 'enrollment-profiles';

function buildServices(ctx: PluginContext<EnrollmentProfilesConfig>) {
  const records = new MongoEnrollmentRecords(ctx.mongo);
  const users = () => ctx.tryResolve(userDirectoryRef);
  const setup = () => ctx.tryResolve(mdmSetupRef);
  const push = () => ctx.tryResolve(pushHealthRef);
  const identityProviders = () => ctx.extensions(identityProvidersPoint).map((c) => c.value.name);
  const reloads = ctx.metrics.histogram(
    'enrollment_profiles_reload_seconds',
    'Time to reload the profile cache',
    [],
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  );
  const outcomes = ctx.metrics.counter('enrollment_resolutions_total', 'Profile resolutions by outcome', ['outcome']);
  const log = new ChangeLog(records);
  const catalog = new ProfileCatalog({
    records,
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
  const store = new ProfileService(records, log, users);
  const limits = new LimitPolicyService(records, log, users);
  const idempotencyKeys = new MongoIdempotencyKeys(ctx.mongo);
  return { records, log, users, setup, push, identityProviders, catalog, resolver, store, limits, idempotencyKeys };
}

/**
 * Who enrolls how: prioritized enrollment profiles with group assignments, OS gating, device
 * limits and setup checks, as in Intune's admin center.
 */
export default definePlugin({
  name: NAME,
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Enrollment profiles: priority, assignments, OS gating, device limits and setup checks',
  optionalDependsOn: ['admin-access', 'identity-entra', 'mdm', 'apns'],
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
      const { records, catalog } = services(ctx);
      await records.ensureIndexes();
      await catalog.start();
    });
    api.onStop(async (ctx) => {
      await services(ctx).catalog.stop();
    });
    api.routes({
      prefix: '/api/enrollment-profiles',
      mount: (router, ctx) => {
        mountGroupSearch(router, ctx, services(ctx));
        mountProfileRoutes(router, ctx, services(ctx));
      },
    });
    api.routes({
      prefix: '/api/device-limit-policies',
      mount: (router, ctx) =>
        mountLimitRoutes(router, ctx, {
          ...services(ctx),
          defaultLimit: ctx.config.defaultDeviceLimit,
        }),
    });
    api.routes({
      prefix: '/api/setup',
      mount: (router, ctx) => mountSetupRoutes(router, ctx, services(ctx)),
    });
    api.readiness('profile-cache', async (ctx) => {
      if (services(ctx).catalog.revision === undefined) throw new Error('enrollment profiles not loaded yet');
    });
  },
});
