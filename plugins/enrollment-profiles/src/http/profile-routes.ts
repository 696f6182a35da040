import type Router from '@koa/router';
import {
  auditAdminAction,
  type DevicePlatform,
  NotFoundProblem,
  type PluginContext,
  type ProfileResolver,
  parseDeviceUserAgent,
  readJsonBody,
  requireAdminScope,
  type UserDirectory,
  validate,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import type { ProfileCatalog } from '../catalog.js';
import type { ProfileStore } from '../profile-store.js';
import { createProfileBody, explainQuery, listQuery, moveBody, reorderBody, updateProfileBody } from '../schemas.js';
import { etag, expectedVersion } from './admin.js';

export interface ProfileRouteDeps {
  store: ProfileStore;
  catalog: ProfileCatalog;
  resolver: ProfileResolver;
  users: () => UserDirectory | undefined;
}

const deleteQuery = z.object({ version: z.coerce.number().int().min(0).optional() });

/** Admin API under /api/enrollment-profiles: CRUD, priority order, and "why does this user get that profile?". */
export function mountProfileRoutes(router: Router, ctx: PluginContext<unknown>, deps: ProfileRouteDeps): void {
  const { store, catalog } = deps;
  const read = requireAdminScope(ctx, 'profiles:read');
  const write = requireAdminScope(ctx, 'profiles:write');
  const audit = (koa: Koa.Context, action: string, target: { type: string; id: string }, change: object) =>
    auditAdminAction(ctx, koa, action, target, change);

  router.get('/', read, async (koa) => {
    const query = validate(listQuery, koa.query);
    const { items, order } = await store.list();
    const start = query.cursor ?? 0;
    const page = items.slice(start, start + query.limit);
    koa.body = {
      items: page,
      version: order.orderVersion,
      nextCursor: start + query.limit < items.length ? String(start + query.limit) : null,
    };
  });

  router.post('/', write, async (koa) => {
    const body = await readJsonBody(koa, createProfileBody);
    const { view, order } = await store.create(body);
    await catalog.announce(order._id);
    await audit(koa, 'enrollment-profile.create', { type: 'enrollment-profile', id: view.id }, { after: view });
    koa.status = 201;
    koa.set('ETag', etag(view.version));
    koa.body = { ...view, orderVersion: order.orderVersion };
  });

  router.get('/explain', read, async (koa) => {
    const query = validate(explainQuery, koa.query);
    const directory = deps.users();
    const user = directory ? await directory.get(query.userId) : undefined;
    if (directory && !user) throw new NotFoundProblem('no such user in the identity provider');
    let platform: DevicePlatform | undefined = query.platform;
    let osVersion = query.osVersion;
    if (!platform && query.userAgent) ({ platform, osVersion } = parseDeviceUserAgent(query.userAgent));
    const resolution = await deps.resolver.resolve({
      userId: query.userId,
      groups: user?.groups ?? [],
      platform,
      osVersion,
    });
    const notes = [
      ...(directory ? [] : ['no identity provider is enabled: group memberships are unknown']),
      ...(user && !user.enabled ? ['the account is disabled: it cannot sign in or enroll'] : []),
      ...(platform === undefined ? ['no platform given: OS gating was skipped'] : []),
    ];
    koa.body = {
      user: user
        ? {
            id: user.id,
            upn: user.upn,
            displayName: user.displayName,
            enabled: user.enabled,
            groups: user.groups.length,
          }
        : { id: query.userId },
      device: { platform: platform ?? null, osVersion: osVersion ?? null },
      ...resolution,
      notes,
      cacheRevision: catalog.revision ?? null,
    };
  });

  router.put('/order', write, async (koa) => {
    const body = await readJsonBody(koa, reorderBody);
    const { before, order } = await store.reorder(body.order, body.version);
    await catalog.announce(order._id);
    await audit(
      koa,
      'enrollment-profile.reorder',
      { type: 'enrollment-profile-order', id: 'order' },
      {
        before: { order: before, version: body.version },
        after: { order: order.ids, version: order.orderVersion },
      },
    );
    koa.body = { order: order.ids, version: order.orderVersion };
  });

  router.get('/:id', read, async (koa) => {
    const { view, order } = await store.get(koa.params.id);
    koa.set('ETag', etag(view.version));
    koa.body = { ...view, orderVersion: order.orderVersion };
  });

  router.patch('/:id', write, async (koa) => {
    const body = await readJsonBody(koa, updateProfileBody);
    const version = expectedVersion(koa, body.version) as number;
    const { before, after, revision } = await store.update(koa.params.id, body, version);
    await catalog.announce(revision);
    await audit(koa, 'enrollment-profile.update', { type: 'enrollment-profile', id: after.id }, { before, after });
    koa.set('ETag', etag(after.version));
    koa.body = after;
  });

  router.delete('/:id', write, async (koa) => {
    const version = expectedVersion(koa, validate(deleteQuery, koa.query).version, false);
    const { before, order } = await store.remove(koa.params.id, version);
    await catalog.announce(order._id);
    await audit(koa, 'enrollment-profile.delete', { type: 'enrollment-profile', id: before.id }, { before });
    koa.status = 204;
  });

  router.post('/:id/move', write, async (koa) => {
    const body = await readJsonBody(koa, moveBody);
    const { before, order } = await store.move(koa.params.id, body.toPosition, body.version);
    await catalog.announce(order._id);
    await audit(
      koa,
      'enrollment-profile.move',
      { type: 'enrollment-profile', id: koa.params.id },
      {
        before: { order: before, version: body.version },
        after: { order: order.ids, version: order.orderVersion, toPosition: body.toPosition },
      },
    );
    koa.body = { order: order.ids, version: order.orderVersion };
  });
}
