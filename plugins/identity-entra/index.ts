import { createHash } from 'node:crypto';
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
import { entraConfig, type IdentityConfig, identityConfigSchema } from './src/config.js';
import { EntraIdentityProvider, entraMetadataUrl } from './src/entra-provider.js';
import { GraphGroupSource } from './src/graph.js';
import { groupRefreshJob } from './src/group-refresh.js';
import { SessionManager } from './src/sessions.js';
import { SignInStateCookie } from './src/signin-state.js';
import { MongoUserStorage } from './src/storage/user-records.js';
import { type GroupsChangeAnnouncer, MongoUserDirectory } from './src/users.js';

/** Microsoft Graph with the app's credentials, when Entra is the provider (overage groups and group pickers). */
function graphFor(config: IdentityConfig): GraphGroupSource | undefined {
  const entra = entraConfig(config);
  if (config.provider !== 'entra' || !entra) return undefined;
  return new GraphGroupSource({
    metadataUrl: entraMetadataUrl(entra),
    graphUrl: entra.graphUrl,
    scope: entra.graphScope,
    clientId: entra.clientId,
    clientSecret: entra.clientSecret,
  });
}

/**
 * user.groupsChanged, named by the user, the change and the sign-in's time (the same change made again later is a
 * new fact). Raised after the write, so a subscriber (ddm re-syncing the user's devices) reads the new groups.
 */
function groupsAnnouncer(ctx: PluginContext<IdentityConfig>): GroupsChangeAnnouncer {
  return async (change) => {
    const digest = createHash('sha256')
      .update(JSON.stringify([[...change.previous].sort(), [...change.groups].sort()]))
      .digest('hex')
      .slice(0, 16);
    await ctx.events.emit('user.groupsChanged', change, {
      eventId: `user.groupsChanged:${change.userId}:${digest}:${Date.now()}`,
    });
  };
}

function buildServices(ctx: PluginContext<IdentityConfig>) {
  const { config } = ctx;
  const graph = graphFor(config);
  const users: MongoUserDirectory = new MongoUserDirectory(
    new MongoUserStorage(ctx.mongo),
    (userId): Promise<void> => userCache.drop(userId),
    graph,
    groupsAnnouncer(ctx),
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
  return { users, userCache, sessions, provider, audit, graph };
}

/**
 * Sign-in with Microsoft Entra ID (behind the identity-provider extension point), server-side
 * sessions, the user directory, and admin authenticators for cookie sessions and bearer tokens.
 */
export default definePlugin({
  name: 'identity-entra',
  version: '1.0.0',
  coreApi: '^2.13.0',
  description: 'Entra ID sign-in, sessions, user directory and admin authentication',
  dependsOn: ['admin-access'],
  config: identityConfigSchema,
  emits: ['user.groupsChanged'],
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<IdentityConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };

    api.extensionPoint(identityProvidersPoint);
    // Entra is contributed when it is the provider; otherwise another plugin (identity-oidc) contributes one.
    const entra = entraConfig(api.config);
    if (api.config.provider === 'entra' && entra) {
      api.contribute(identityProvidersPoint, (ctx) => {
        const groups = services(ctx).graph ?? graphFor(ctx.config);
        if (!groups) throw new Error('identity-entra: Entra is the provider but has no app credentials');
        return new EntraIdentityProvider(entra, ctx.gateway.publicUrl, groups);
      });
    }
    api.provide(userDirectoryRef, (ctx) => services(ctx).users);
    api.provide(browserSessionsRef, (ctx) => browserSessions(services(ctx)));
    api.contribute(adminAuthenticatorsPoint, (ctx) => sessionAuthenticator({ config: ctx.config, ...services(ctx) }));
    api.contribute(adminAuthenticatorsPoint, (ctx) => bearerAuthenticator({ config: ctx.config, ...services(ctx) }));

    api.routes({
      prefix: '/auth',
      mount: (router, ctx) =>
        mountAuthRoutes(router, {
          config: ctx.config,
          ...services(ctx),
          signInState: new SignInStateCookie(ctx.config.sessionCookieName, ctx.config.sessionSecrets),
          rateLimits: ctx.rateLimits,
        }),
    });
    api.routes({
      prefix: '/api/identity',
      mount: (router, ctx) => mountIdentityAdminRoutes(router, ctx, { users: services(ctx).users }),
    });
    const refresh = groupRefreshJob(services);
    api.queue(refresh.queue);
    api.onStart(async (ctx) => {
      await new MongoUserStorage(ctx.mongo).prepare();
      await refresh.schedule(ctx);
    });
  },
});
