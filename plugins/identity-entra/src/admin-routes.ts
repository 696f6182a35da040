import {
  adminApi,
  auditAdminAction,
  NotFoundProblem,
  type PluginRouter,
  pageOf,
  type ServiceResolver,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { type MongoUserDirectory, toDirectoryUser } from './users.js';

const listQuery = z.object({
  cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
  enabled: z.enum(['true', 'false']).optional().describe('Only enabled or only disabled users'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const userParams = z.object({ id: z.string().min(1).max(200).describe("The user's object id") });
const patchBody = z.object({ enabled: z.boolean() }).strict();

const userSchema = z.object({
  id: z.string(),
  upn: z.string(),
  displayName: z.string(),
  tenantId: z.string().optional(),
  enabled: z.boolean().describe('A disabled user cannot sign in or enroll'),
  groups: z.array(z.string()),
  lastSignInAt: z.iso.datetime().optional(),
});

/** Admin API under /api/identity: list users, read one, enable or disable (audit-logged, before and after). */
export function mountIdentityAdminRoutes(
  router: PluginRouter,
  ctx: ServiceResolver,
  deps: { users: MongoUserDirectory },
): void {
  const api = adminApi(router, ctx, { tags: ['users'] });

  api.get(
    '/users',
    {
      scope: 'users:read',
      summary: 'Users who signed in, in id order',
      query: listQuery,
      responses: { 200: { description: 'A page of users', schema: pageOf(userSchema) } },
    },
    async (koa, { query }) => {
      const docs = await deps.users.list({
        cursor: query.cursor,
        limit: query.limit + 1,
        enabled: query.enabled === undefined ? undefined : query.enabled === 'true',
      });
      const page = docs.slice(0, query.limit);
      koa.body = {
        items: page.map(toDirectoryUser),
        nextCursor: docs.length > query.limit ? page[page.length - 1].id : null,
      };
    },
  );

  api.get(
    '/users/:id',
    {
      scope: 'users:read',
      summary: 'One user',
      params: userParams,
      responses: { 200: { description: 'The user', schema: userSchema }, 404: { description: 'No such user' } },
    },
    async (koa, { params }) => {
      const user = await deps.users.get(params.id);
      if (!user) throw new NotFoundProblem('no such user');
      koa.body = user;
    },
  );

  api.patch(
    '/users/:id',
    {
      scope: 'users:write',
      summary: 'Enable or disable a user; a disabled user cannot sign in or enroll',
      description: 'Their devices stay enrolled: retire them with POST /api/unenrollment/users/{userId}/retire.',
      params: userParams,
      body: patchBody,
      responses: {
        200: { description: 'The user after the change', schema: userSchema },
        404: { description: 'No such user' },
      },
    },
    async (koa, { params, body }) => {
      const change = await deps.users.setEnabled(params.id, body.enabled);
      if (!change) throw new NotFoundProblem('no such user');
      await auditAdminAction(
        ctx,
        koa,
        body.enabled ? 'identity.user.enable' : 'identity.user.disable',
        {
          type: 'user',
          id: params.id,
        },
        { before: { enabled: change.before.enabled }, after: { enabled: change.after.enabled } },
      );
      koa.body = change.after;
    },
  );
}
