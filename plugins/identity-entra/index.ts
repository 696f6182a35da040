import {
  adminAuthenticatorsPoint,
  auditLogRef,
  browserSessionsRef,
  definePlugin,
  type IdentityProvider,
  identityProvidersPoint,
  type PluginContext,
  userDirectoryRef,
} from 'enrollment-gateway/sdk';
import { bearerAuthenticator, sessionAuthenticator } from './src/admin-auth.js';
import { mountIdentityAdminRoutes } from './src/admin-routes.js';
import { mountAuthRoutes } from './src/auth-routes.js';
import { browserSessions, UserRecordCache } from './src/browser-sessions.js';
import { type IdentityConfig, identityConfigSchema } from './src/config.js';
import { EntraIdentityProvider, entraMetadataUrl } from './src/entra-provider.js';
import { GraphGroupSource } from './src/graph.js';
import { SessionManager } from './src/sessions.js';
import { MongoUserDirectory } from './src/users.js';

function buildServices(ctx: PluginContext<IdentityConfig>) {
  const { config } = ctx;
  const users: MongoUserDirectory = new MongoUserDirectory(
    ctx.mongo,
    (userId): Promise<void> => userCache.drop(userId),
  );
  const userCache: UserRecordCache = new UserRecordCache(ctx.redis, ctx.redisKeyPrefix, users);
  const sessions = new SessionManager({
    cookieName: config.sessionCookieName,
    secrets: config.sessionSecrets,
    idleMs: config.sessionIdleMinutes * 60_000,
    absoluteMs: config.sessionAbsoluteHours * 3_600_000,
    redis: ctx.redis,
    keyPrefix: ctx.redisKeyPrefix,
  });
  /** The configured provider among the contributions (Entra by default; another plugin may add one). */
  const provider = (): IdentityProvider => {
    const found = ctx.extensions(identityProvidersPoint).find((c) => c.value.name === config.provider);
    if (!found) throw new Error(`identity provider "${config.provider}" is not available`);
    return found.value;
  };
  const audit = () => ctx.tryResolve(auditLogRef);
  return { users, userCache, sessions, provider, audit };
}

/**
 * Sign-in with Microsoft Entra ID (behind the identity-provider extension point), server-side
 * sessions, the user directory, and admin authenticators for cookie sessions and bearer tokens.
 */
export default definePlugin({
  name: 'identity-entra',
  version: '1.0.0',
  coreApi: '^1.0.0',
  description: 'Entra ID sign-in, sessions, user directory and admin authentication',
  dependsOn: ['admin-access'],
  config: identityConfigSchema,
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<IdentityConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };

    api.extensionPoint(identityProvidersPoint);
    api.contribute(identityProvidersPoint, (ctx) => {
      const groups = new GraphGroupSource({
        metadataUrl: entraMetadataUrl(ctx.config),
        graphUrl: ctx.config.graphUrl,
        scope: ctx.config.graphScope,
        clientId: ctx.config.clientId,
        clientSecret: ctx.config.clientSecret,
      });
      return new EntraIdentityProvider(ctx.config, ctx.gateway.publicUrl, groups);
    });
    api.provide(userDirectoryRef, (ctx) => services(ctx).users);
    api.provide(browserSessionsRef, (ctx) => browserSessions(services(ctx)));
    api.contribute(adminAuthenticatorsPoint, (ctx) => sessionAuthenticator({ config: ctx.config, ...services(ctx) }));
    api.contribute(adminAuthenticatorsPoint, (ctx) => bearerAuthenticator({ config: ctx.config, ...services(ctx) }));

    api.routes({
      prefix: '/auth',
      mount: (router, ctx) => mountAuthRoutes(router as never, { config: ctx.config, ...services(ctx) }),
    });
    api.routes({
      prefix: '/api/identity',
      mount: (router, ctx) => mountIdentityAdminRoutes(router as never, ctx, { users: services(ctx).users }),
    });
    api.onStart(async (ctx) => {
      await services(ctx).users.ensureIndexes();
    });
  },
});
