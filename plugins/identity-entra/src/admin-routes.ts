import type Router from '@koa/router';
import {
  ADMIN_PRINCIPAL_STATE,
  type AdminGuard,
  type AdminPrincipal,
  type AuditLog,
  NotFoundProblem,
  ProblemError,
  readJsonBody,
  validate,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import { type MongoUserDirectory, toDirectoryUser } from './users.js';

const listQuery = z.object({
  cursor: z.string().max(200).optional(),
  enabled: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const patchBody = z.object({ enabled: z.boolean() }).strict();

/** Admin API under /api/identity: list users, read one, enable or disable (audit-logged, before and after). */
export function mountIdentityAdminRoutes(
  router: Router,
  deps: { users: MongoUserDirectory; guard(): AdminGuard | undefined; audit(): AuditLog | undefined },
): void {
  const guard =
    (scope: string): Koa.Middleware =>
    async (ctx, next) => {
      const adminGuard = deps.guard();
      if (!adminGuard) throw new ProblemError(403, 'Forbidden', 'admin access is not configured');
      await adminGuard.require(scope)(ctx, next);
    };

  router.get('/users', guard('users:read'), async (ctx) => {
    const query = validate(listQuery, ctx.query);
    const docs = await deps.users.list({
      cursor: query.cursor,
      limit: query.limit + 1,
      enabled: query.enabled === undefined ? undefined : query.enabled === 'true',
    });
    const page = docs.slice(0, query.limit);
    ctx.body = {
      items: page.map(toDirectoryUser),
      nextCursor: docs.length > query.limit ? page[page.length - 1]._id : null,
    };
  });

  router.get('/users/:id', guard('users:read'), async (ctx) => {
    const user = await deps.users.get(ctx.params.id);
    if (!user) throw new NotFoundProblem('no such user');
    ctx.body = user;
  });

  router.patch('/users/:id', guard('users:write'), async (ctx) => {
    const body = await readJsonBody(ctx, patchBody);
    const change = await deps.users.setEnabled(ctx.params.id, body.enabled);
    if (!change) throw new NotFoundProblem('no such user');
    const principal = ctx.state[ADMIN_PRINCIPAL_STATE] as AdminPrincipal;
    await deps.audit()?.record({
      actor: { id: principal.id, kind: principal.kind, displayName: principal.displayName },
      action: body.enabled ? 'identity.user.enable' : 'identity.user.disable',
      target: { type: 'user', id: ctx.params.id },
      before: { enabled: change.before.enabled },
      after: { enabled: change.after.enabled },
      requestId: ctx.state.requestId as string,
    });
    ctx.body = change.after;
  });
}
