import {
  adminApi,
  auditAdminAction,
  etag,
  expectedVersion,
  ifMatchHeader,
  type PluginContext,
  type PluginRouter,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import type { ProfileCatalog } from '../catalog.js';
import type { ChangeLog } from '../change-log.js';
import type { LimitPolicyService } from '../limit-service.js';
import { createLimitPolicyBody, updateLimitPolicyBody } from '../schemas.js';

export interface LimitRouteDeps {
  limits: LimitPolicyService;
  /** Every change moves the revision replicas compare their caches against. */
  log: ChangeLog;
  catalog: ProfileCatalog;
  defaultLimit: number;
}

const deleteQuery = z.object({ version: z.coerce.number().int().min(0).optional() });

const policySchema = z.object({
  id: z.string(),
  name: z.string(),
  groups: z.array(z.string()),
  limit: z.number().int(),
  priority: z.number().int(),
  version: z.number().int(),
});
const idParams = z.object({ id: z.string().min(1).max(100) });
const ETAG = { ETag: 'The version, for If-Match' };
const NOT_FOUND = { description: 'No such policy' };
const STALE = { description: 'Stale: someone changed it since you read it' };

/** Admin API under /api/device-limit-policies: per-group device limits with priority. */
export function mountLimitRoutes(router: PluginRouter, ctx: PluginContext<unknown>, deps: LimitRouteDeps): void {
  const api = adminApi(router, ctx, { tags: ['device-limits'] });
  const audit = (koa: Koa.Context, action: string, target: { type: string; id: string }, change: object) =>
    auditAdminAction(ctx, koa, action, target, change);
  const changed = async (kind: string, id: string) => deps.catalog.announce((await deps.log.touch(kind, id))._id);

  api.get(
    '/',
    {
      scope: 'profiles:read',
      summary: 'Device limit policies, and the default limit',
      responses: {
        200: {
          description: 'Every policy',
          schema: z.object({ defaultLimit: z.number().int(), items: z.array(policySchema) }),
        },
      },
    },
    async (koa) => {
      koa.body = { defaultLimit: deps.defaultLimit, items: await deps.limits.list() };
    },
  );

  api.post(
    '/',
    {
      scope: 'profiles:write',
      summary: 'Create a device limit policy for groups',
      body: createLimitPolicyBody,
      responses: { 201: { description: 'Created', schema: policySchema, headers: ETAG } },
    },
    async (koa, { body }) => {
      const policy = await deps.limits.create(body);
      await changed('limit-policy.create', policy.id);
      await audit(koa, 'device-limit-policy.create', { type: 'device-limit-policy', id: policy.id }, { after: policy });
      koa.status = 201;
      koa.set('ETag', etag(policy.version));
      koa.body = policy;
    },
  );

  api.get(
    '/:id',
    {
      scope: 'profiles:read',
      summary: 'One device limit policy',
      params: idParams,
      responses: { 200: { description: 'The policy', schema: policySchema, headers: ETAG }, 404: NOT_FOUND },
    },
    async (koa, { params }) => {
      const policy = await deps.limits.get(params.id);
      koa.set('ETag', etag(policy.version));
      koa.body = policy;
    },
  );

  api.patch(
    '/:id',
    {
      scope: 'profiles:write',
      summary: 'Edit a device limit policy (needs the version you read)',
      params: idParams,
      headers: ifMatchHeader,
      body: updateLimitPolicyBody,
      responses: {
        200: { description: 'Saved', schema: policySchema, headers: ETAG },
        404: NOT_FOUND,
        409: STALE,
        428: { description: 'No version given' },
      },
    },
    async (koa, { params, body }) => {
      const version = expectedVersion(koa, body.version);
      const { before, after } = await deps.limits.update(params.id, body, version);
      await changed('limit-policy.update', after.id);
      await audit(koa, 'device-limit-policy.update', { type: 'device-limit-policy', id: after.id }, { before, after });
      koa.set('ETag', etag(after.version));
      koa.body = after;
    },
  );

  api.delete(
    '/:id',
    {
      scope: 'profiles:write',
      summary: 'Delete a device limit policy',
      params: idParams,
      query: deleteQuery,
      headers: ifMatchHeader,
      responses: { 204: { description: 'Deleted' }, 404: NOT_FOUND, 409: STALE },
    },
    async (koa, { params, query }) => {
      const version = expectedVersion(koa, query.version, false);
      const before = await deps.limits.remove(params.id, version);
      await changed('limit-policy.delete', before.id);
      await audit(koa, 'device-limit-policy.delete', { type: 'device-limit-policy', id: before.id }, { before });
      koa.status = 204;
    },
  );
}
