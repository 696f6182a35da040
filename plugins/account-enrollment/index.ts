import {
  adminNavigationPoint,
  browserSessionsRef,
  definePlugin,
  enrollmentSessionsRef,
  type PluginContext,
  profileResolverRef,
} from 'enrollment-gateway/sdk';
import { mountAdminRoutes } from './src/admin-routes.js';
import { ChallengeCodec } from './src/challenge.js';
import { type AccountEnrollmentConfig, accountEnrollmentConfigSchema } from './src/config.js';
import { discoveryDocument } from './src/discovery.js';
import { MAX_MACHINE_INFO_BYTES } from './src/machine-info.js';
import { mountDeviceRoutes, mountDiscoveryRoutes, mountWebRoutes, type RouteDeps } from './src/routes.js';
import { accountEnrollmentModels, challengeKey } from './src/storage/records.js';
import { AccessTokens } from './src/token-service.js';

function buildDeps(ctx: PluginContext<AccountEnrollmentConfig>): RouteDeps {
  const models = accountEnrollmentModels(ctx.mongo);
  let codec: Promise<ChallengeCodec> | undefined;
  return {
    config: ctx.config,
    publicUrl: ctx.gateway.publicUrl,
    organization: ctx.gateway.organizationName,
    logger: ctx.logger,
    discovery: discoveryDocument(ctx.gateway.publicUrl),
    codec: () => {
      codec ??= challengeKey(models, ctx.keyVault).then(
        (key) => new ChallengeCodec(key, ctx.config.challengeSeconds),
        (error: unknown) => {
          codec = undefined;
          throw error;
        },
      );
      return codec;
    },
    tokens: new AccessTokens(models, ctx.keyVault, ctx.config.accessTokenSeconds),
    sessions: () => ctx.tryResolve(browserSessionsRef),
    resolver: () => ctx.tryResolve(profileResolverRef),
    enrollments: () => ctx.resolve(enrollmentSessionsRef),
    rateLimits: ctx.rateLimits,
  };
}

/**
 * Account-driven enrollment, the second front door next to the portal: the user signs in to their work account in
 * Settings → VPN & Device Management; the device finds the gateway by service discovery, is challenged (401),
 * signs in on the web as in the portal, and receives a User Enrollment profile (docs/account-driven-enrollment.md).
 */
export default definePlugin({
  name: 'account-enrollment',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Account-driven enrollment: service discovery, the Bearer challenge, web sign-in and User Enrollment',
  dependsOn: ['mdm'],
  optionalDependsOn: ['identity-entra', 'enrollment-profiles', 'admin-access'],
  config: accountEnrollmentConfigSchema,
  register(api) {
    let built: RouteDeps | undefined;
    const deps = (ctx: PluginContext<AccountEnrollmentConfig>) => {
      built ??= buildDeps(ctx);
      return built;
    };
    api.routes({
      prefix: '',
      mount: (router, ctx) => mountDiscoveryRoutes(router, deps(ctx)),
    });
    api.routes({
      prefix: '/account-enrollment',
      bodyLimitBytes: MAX_MACHINE_INFO_BYTES,
      mount(router, ctx) {
        mountWebRoutes(router, deps(ctx));
        mountDeviceRoutes(router, deps(ctx));
      },
    });
    api.routes({
      prefix: '/api/account-enrollment',
      mount: (router, ctx) => mountAdminRoutes(router, ctx, deps(ctx).discovery),
    });
    // The admin center's page runs the check: opening it asks every domain again.
    api.contribute(adminNavigationPoint, () => ({
      id: 'account-enrollment',
      label: 'Account-driven enrollment',
      path: '/admin/account-enrollment',
      scope: 'profiles:read',
      order: 75,
    }));
    api.onStart(async (ctx) => {
      await deps(ctx).codec();
      if (ctx.config.domains.length === 0)
        ctx.logger.warn(
          'no domains are configured: service discovery refuses every account (plugins.account-enrollment.domains)',
        );
    });
  },
});
