import {
  ADMIN_PRINCIPAL_STATE,
  type AdminAuthenticator,
  type AdminPrincipal,
  adminAuthenticatorsPoint,
  adminGuardRef,
  auditLogRef,
  definePlugin,
  type PluginContext,
  ProblemError,
} from 'enrollment-gateway/sdk';
import { apiKeyCommands } from './src/api-key-cli.js';
import { apiKeyAuthenticator, mountApiKeyRoutes } from './src/api-key-http.js';
import { ApiKeyStore } from './src/api-keys.js';
import { mountAuditRoutes } from './src/audit-http.js';
import { MongoAuditLog } from './src/audit-log.js';
import { scopeCovers } from './src/scopes.js';

export { scopeCovers };

/**
 * Owns admin authentication: identity plugins contribute authenticators (sessions, bearer tokens);
 * this plugin contributes the scoped API keys itself. Routes ask the guard for a scope. Nothing is
 * allowed unless an authenticator says so.
 */
export default definePlugin({
  name: 'admin-access',
  version: '1.0.0',
  coreApi: '^1.0.0',
  description: 'Deny-by-default guard for admin routes, scoped API keys, and the audit log',
  register(api) {
    let apiKeys: ApiKeyStore | undefined;
    const keyStore = (ctx: PluginContext<unknown>) => {
      apiKeys ??= new ApiKeyStore(ctx.mongo);
      return apiKeys;
    };
    api.extensionPoint(adminAuthenticatorsPoint);
    api.provide(auditLogRef, (ctx) => new MongoAuditLog(ctx.mongo));
    api.contribute(adminAuthenticatorsPoint, (ctx) =>
      apiKeyAuthenticator(keyStore(ctx), () => ctx.resolve(auditLogRef)),
    );
    api.provide(adminGuardRef, (ctx) => {
      const authenticators = (): AdminAuthenticator[] => ctx.extensions(adminAuthenticatorsPoint).map((c) => c.value);
      return {
        require: (scope: string) => async (koa, next) => {
          let principal: AdminPrincipal | undefined;
          for (const authenticator of authenticators()) {
            principal = await authenticator.authenticate(koa);
            if (principal) break;
          }
          if (!principal) {
            throw new ProblemError(
              401,
              'Authentication required',
              'sign in as an admin, or send a bearer token or API key',
            );
          }
          if (!scopeCovers(principal.scopes, scope)) {
            throw new ProblemError(403, 'Forbidden', `this credential lacks the "${scope}" scope`);
          }
          koa.state[ADMIN_PRINCIPAL_STATE] = principal;
          await next();
        },
      };
    });
    api.routes({
      prefix: '/api/admin',
      mount: (router, ctx) => {
        mountApiKeyRoutes(router as never, ctx, keyStore(ctx));
        mountAuditRoutes(router as never, ctx);
      },
    });
    for (const command of apiKeyCommands((ctx) => ({ store: keyStore(ctx), audit: ctx.resolve(auditLogRef) }))) {
      api.command(command);
    }
    api.onStart(async (ctx) => {
      await new MongoAuditLog(ctx.mongo).ensureIndexes();
      await keyStore(ctx).ensureIndexes();
    });
  },
});
