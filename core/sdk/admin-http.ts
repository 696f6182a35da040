import type Koa from 'koa';
import { ADMIN_PRINCIPAL_STATE, type AdminPrincipal, adminGuardRef, auditLogRef } from './contracts/admin.js';
import { ProblemError } from './errors.js';
import type { ServiceResolver } from './plugin.js';

/**
 * Guards an admin route with a scope. Deny by default: without the admin-access plugin, or without
 * credentials, nothing passes. The plugin must list 'admin-access' in dependsOn or optionalDependsOn.
 */
export function requireAdminScope(ctx: ServiceResolver, scope: string): Koa.Middleware {
  return async (koa, next) => {
    const guard = ctx.tryResolve(adminGuardRef);
    if (!guard) throw new ProblemError(403, 'Forbidden', 'admin access is not configured');
    await guard.require(scope)(koa, next);
  };
}

/** The principal a guarded route runs for. */
export function adminPrincipal(koa: Koa.Context): AdminPrincipal {
  const principal = koa.state[ADMIN_PRINCIPAL_STATE] as AdminPrincipal | undefined;
  if (!principal) throw new ProblemError(403, 'Forbidden', 'this route is not guarded by requireAdminScope');
  return principal;
}

/** Records an admin write in the audit log (who, what, when, before and after), when the log is present. */
export async function auditAdminAction(
  ctx: ServiceResolver,
  koa: Koa.Context,
  action: string,
  target: { type: string; id: string },
  change: { before?: unknown; after?: unknown } = {},
): Promise<void> {
  const principal = adminPrincipal(koa);
  await ctx.tryResolve(auditLogRef)?.record({
    actor: { id: principal.id, kind: principal.kind, displayName: principal.displayName },
    action,
    target,
    ...change,
    requestId: koa.state.requestId as string | undefined,
  });
}
