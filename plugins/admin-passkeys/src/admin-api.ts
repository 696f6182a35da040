import {
  adminPrincipal,
  adminRoute,
  auditAdminAction,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  ProblemError,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { adminRoles, type PasskeyService } from './passkeys.js';

const inviteBody = z.object({
  email: z.string().max(254).describe("The invitee's email address (shown in the admin center and the audit log)"),
  role: z.enum(adminRoles).default('read-only').describe('read-only (every *:read scope) or full (*)'),
});
const adminView = z
  .object({ id: z.string(), email: z.string(), role: z.enum(adminRoles) })
  .passthrough()
  .describe('A local administrator or a pending invite');
const idParams = z.object({ id: z.string().min(1).max(100) });

/**
 * /api/admins: the local (passkey) administrators. Inviting a full admin needs a credential that holds "*"
 * itself, so a narrower key or a read-only admin cannot mint a wider account.
 */
export function mountAdminApi(router: PluginRouter, ctx: PluginContext<unknown>, passkeys: PasskeyService): void {
  adminRoute(
    router,
    ctx,
    {
      method: 'get',
      path: '/',
      scope: 'admins:read',
      summary: 'List local administrators',
      description: 'Local (passkey) administrators and pending invites, with role and status.',
      responses: { 200: { description: 'The administrators', schema: z.object({ items: z.array(adminView) }) } },
    },
    async (koa) => {
      koa.body = { items: await passkeys.list() };
    },
  );
  adminRoute(
    router,
    ctx,
    {
      method: 'post',
      path: '/invites',
      scope: 'admins:write',
      summary: 'Invite a local administrator',
      description:
        'Answers a one-time link at which the invitee registers a passkey. Inviting a full administrator needs a ' +
        'credential holding "*".',
      body: inviteBody,
      bodyLimit: 4096,
      responses: {
        201: { description: 'The invite and its one-time link', schema: adminView.extend({ link: z.string() }) },
        400: { description: 'Invalid body' },
        403: { description: 'The credential may not invite a full administrator' },
      },
    },
    async (koa, { body }) => {
      const principal = adminPrincipal(koa);
      if (body.role === 'full' && !principal.scopes.includes('*')) {
        throw new ProblemError(403, 'Forbidden', 'only a credential holding "*" can invite a full administrator');
      }
      const { link, invite } = await passkeys.invite({ ...body, createdBy: principal.id });
      await auditAdminAction(ctx, koa, 'admin.invited', { type: 'admin-invite', id: invite.id }, { after: invite });
      koa.status = 201;
      koa.set('Cache-Control', 'no-store');
      koa.body = { link, ...invite };
    },
  );
  adminRoute(
    router,
    ctx,
    {
      method: 'delete',
      path: '/:id',
      scope: 'admins:write',
      summary: 'Revoke a local administrator',
      description: 'Signs the administrator out everywhere and refuses their passkeys from now on.',
      params: idParams,
      responses: {
        200: { description: 'The revoked administrator', schema: adminView },
        404: { description: 'Unknown id' },
      },
    },
    async (koa, { params }) => {
      const before = (await passkeys.list()).find((admin) => admin.id === params.id);
      if (!before) throw new NotFoundProblem('no administrator with this id');
      const [after] = await passkeys.revoke(before.id, adminPrincipal(koa).id);
      await auditAdminAction(ctx, koa, 'admin.revoked', { type: 'admin', id: before.id }, { before, after });
      koa.body = after ?? before;
    },
  );
}
