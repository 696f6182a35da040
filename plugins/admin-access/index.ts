import {
  ADMIN_PRINCIPAL_STATE,
  type AdminAuthenticator,
  type AdminPrincipal,
  adminAuthenticatorsPoint,
  adminGuardRef,
  auditLogRef,
  definePlugin,
  ProblemError,
} from 'enrollment-gateway/sdk';
import { MongoAuditLog } from './src/audit-log.js';

/** True when `granted` covers `required`: "*" covers all, "devices:*" covers "devices:read". */
export function scopeCovers(granted: readonly string[], required: string): boolean {
  const [area] = required.split(':');
  return granted.some((scope) => scope === '*' || scope === required || scope === `${area}:*`);
}

/**
 * Owns admin authentication: identity plugins contribute authenticators (sessions, bearer tokens,
 * API keys); routes ask the guard for a scope. Nothing is allowed unless an authenticator says so.
 */
export default definePlugin({
  name: 'admin-access',
  version: '1.0.0',
  coreApi: '^1.0.0',
  description: 'Deny-by-default guard for admin routes, and the audit log',
  register(api) {
    api.extensionPoint(adminAuthenticatorsPoint);
    api.provide(auditLogRef, (ctx) => new MongoAuditLog(ctx.mongo));
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
    api.onStart(async (ctx) => {
      await new MongoAuditLog(ctx.mongo).ensureIndexes();
    });
  },
});
