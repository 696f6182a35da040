import type Router from '@koa/router';
import {
  auditAdminAction,
  type PluginContext,
  readJsonBody,
  requireAdminScope,
  validate,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import type { ProfileCatalog } from '../catalog.js';
import type { ChangeLog } from '../change-log.js';
import type { LimitPolicyStore } from '../limit-store.js';
import { createLimitPolicyBody, updateLimitPolicyBody } from '../schemas.js';
import { etag, expectedVersion } from './admin.js';

export interface LimitRouteDeps {
  limits: LimitPolicyStore;
  /** Every change moves the revision replicas compare their caches against. */
  log: ChangeLog;
  catalog: ProfileCatalog;
  defaultLimit: number;
}

const deleteQuery = z.object({ version: z.coerce.number().int().min(0).optional() });

/** Admin API under /api/device-limit-policies: per-group device limits with priority. */
export function mountLimitRoutes(router: Router, ctx: PluginContext<unknown>, deps: LimitRouteDeps): void {
  const read = requireAdminScope(ctx, 'profiles:read');
  const write = requireAdminScope(ctx, 'profiles:write');
  const audit = (koa: Koa.Context, action: string, target: { type: string; id: string }, change: object) =>
    auditAdminAction(ctx, koa, action, target, change);
  const changed = async (kind: string, id: string) => deps.catalog.announce((await deps.log.touch(kind, id))._id);

  router.get('/', read, async (koa) => {
    koa.body = { defaultLimit: deps.defaultLimit, items: await deps.limits.list() };
  });

  router.post('/', write, async (koa) => {
    const body = await readJsonBody(koa, createLimitPolicyBody);
    const policy = await deps.limits.create(body);
    await changed('limit-policy.create', policy.id);
    await audit(koa, 'device-limit-policy.create', { type: 'device-limit-policy', id: policy.id }, { after: policy });
    koa.status = 201;
    koa.set('ETag', etag(policy.version));
    koa.body = policy;
  });

  router.get('/:id', read, async (koa) => {
    const policy = await deps.limits.get(koa.params.id);
    koa.set('ETag', etag(policy.version));
    koa.body = policy;
  });

  router.patch('/:id', write, async (koa) => {
    const body = await readJsonBody(koa, updateLimitPolicyBody);
    const version = expectedVersion(koa, body.version) as number;
    const { before, after } = await deps.limits.update(koa.params.id, body, version);
    await changed('limit-policy.update', after.id);
    await audit(koa, 'device-limit-policy.update', { type: 'device-limit-policy', id: after.id }, { before, after });
    koa.set('ETag', etag(after.version));
    koa.body = after;
  });

  router.delete('/:id', write, async (koa) => {
    const version = expectedVersion(koa, validate(deleteQuery, koa.query).version, false);
    const before = await deps.limits.remove(koa.params.id, version);
    await changed('limit-policy.delete', before.id);
    await audit(koa, 'device-limit-policy.delete', { type: 'device-limit-policy', id: before.id }, { before });
    koa.status = 204;
  });
}
