import {
  adminApi,
  auditAdminAction,
  type DevicePlatform,
  etag,
  expectedVersion,
  ifMatchHeader,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  type ProfileResolver,
  pageOf,
  parseDeviceUserAgent,
  type UserDirectory,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import type { ProfileCatalog } from '../catalog.js';
import type { ProfileService } from '../profile-service.js';
import { createProfileBody, explainQuery, listQuery, moveBody, reorderBody, updateProfileBody } from '../schemas.js';
import type { IdempotencyKeys } from '../storage/idempotency-keys.js';
import { createOnce, idempotencyHeader } from './create-once.js';

export interface ProfileRouteDeps {
  store: ProfileService;
  idempotencyKeys: IdempotencyKeys;
  catalog: ProfileCatalog;
  resolver: ProfileResolver;
  users: () => UserDirectory | undefined;
}

const deleteQuery = z.object({
  version: z.coerce.number().int().min(0).optional().describe('The version you read (or send If-Match)'),
});
const idParams = z.object({ id: z.string().min(1).max(100) });

const profileSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  enrollmentType: z.enum(['web-based', 'app-based', 'account-driven']),
  assignments: z.object({
    allUsers: z.boolean(),
    includedGroups: z.array(z.string()),
    excludedGroups: z.array(z.string()),
  }),
  priority: z.number().int().describe('1 is the highest'),
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
const orderSchema = z.object({ order: z.array(z.string()), version: z.number().int() });
const ETAG = { ETag: 'The version, for If-Match' };
const STALE = { description: 'Stale: someone changed it since you read it; reload (currentVersion tells the latest)' };
const NOT_FOUND = { description: 'No such enrollment profile' };

/** Admin API under /api/enrollment-profiles: CRUD, priority order, and "why does this user get that profile?". */
export function mountProfileRoutes(router: PluginRouter, ctx: PluginContext<unknown>, deps: ProfileRouteDeps): void {
  const { store, catalog } = deps;
  const api = adminApi(router, ctx, { tags: ['enrollment-profiles'] });
  const audit = (koa: Koa.Context, action: string, target: { type: string; id: string }, change: object) =>
    auditAdminAction(ctx, koa, action, target, change);

  api.get(
    '/',
    {
      scope: 'profiles:read',
      summary: 'List enrollment profiles in priority order',
      query: listQuery,
      responses: {
        200: {
          description: 'A page of profiles; `version` is the order version PUT /order and /:id/move need',
          schema: pageOf(profileSchema).extend({ version: z.number().int() }),
        },
      },
    },
    async (koa, { query }) => {
      const { items, order } = await store.list();
      const start = query.cursor ?? 0;
      const page = items.slice(start, start + query.limit);
      koa.body = {
        items: page,
        version: order.orderVersion,
        nextCursor: start + query.limit < items.length ? String(start + query.limit) : null,
      };
    },
  );

  api.post(
    '/',
    {
      scope: 'profiles:write',
      summary: 'Create an enrollment profile (inserted at `priority`, default last)',
      body: createProfileBody,
      headers: idempotencyHeader,
      responses: {
        201: {
          description: 'Created (or, for a repeated Idempotency-Key, the first answer again)',
          schema: profileSchema.extend({ orderVersion: z.number().int() }),
          headers: ETAG,
        },
        409: { description: 'A request with this Idempotency-Key is still running' },
      },
    },
    async (koa, { body }) => {
      await createOnce(deps.idempotencyKeys, koa, 'enrollment-profile.create', async () => {
        const { view, order } = await store.create(body);
        await catalog.announce(order._id);
        await audit(koa, 'enrollment-profile.create', { type: 'enrollment-profile', id: view.id }, { after: view });
        return {
          status: 201,
          body: { ...view, orderVersion: order.orderVersion },
          headers: { ETag: etag(view.version) },
        };
      });
    },
  );

  api.get(
    '/explain',
    {
      scope: 'profiles:read',
      summary: 'Which profile a user and device get, and why',
      query: explainQuery,
      responses: { 200: { description: 'The resolution with its reasons' }, 404: { description: 'No such user' } },
    },
    async (koa, { query }) => {
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
    },
  );

  api.put(
    '/order',
    {
      scope: 'profiles:write',
      summary: 'Set the whole priority order (every profile id, highest first)',
      body: reorderBody,
      responses: { 200: { description: 'The new order', schema: orderSchema }, 409: STALE },
    },
    async (koa, { body }) => {
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
    },
  );

  api.get(
    '/:id',
    {
      scope: 'profiles:read',
      summary: 'One enrollment profile',
      params: idParams,
      responses: {
        200: {
          description: 'The profile',
          schema: profileSchema.extend({ orderVersion: z.number().int() }),
          headers: ETAG,
        },
        404: NOT_FOUND,
      },
    },
    async (koa, { params }) => {
      const { view, order } = await store.get(params.id);
      koa.set('ETag', etag(view.version));
      koa.body = { ...view, orderVersion: order.orderVersion };
    },
  );

  api.patch(
    '/:id',
    {
      scope: 'profiles:write',
      summary: 'Edit an enrollment profile (needs the version you read)',
      params: idParams,
      headers: ifMatchHeader,
      body: updateProfileBody,
      responses: {
        200: { description: 'Saved', schema: profileSchema, headers: ETAG },
        404: NOT_FOUND,
        409: STALE,
        428: { description: 'No version given (If-Match or body `version`)' },
      },
    },
    async (koa, { params, body }) => {
      const version = expectedVersion(koa, body.version);
      const { before, after, revision } = await store.update(params.id, body, version);
      await catalog.announce(revision);
      await audit(koa, 'enrollment-profile.update', { type: 'enrollment-profile', id: after.id }, { before, after });
      koa.set('ETag', etag(after.version));
      koa.body = after;
    },
  );

  api.delete(
    '/:id',
    {
      scope: 'profiles:write',
      summary: 'Delete an enrollment profile',
      params: idParams,
      query: deleteQuery,
      headers: ifMatchHeader,
      responses: { 204: { description: 'Deleted' }, 404: NOT_FOUND, 409: STALE },
    },
    async (koa, { params, query }) => {
      const version = expectedVersion(koa, query.version, false);
      const { before, order } = await store.remove(params.id, version);
      await catalog.announce(order._id);
      await audit(koa, 'enrollment-profile.delete', { type: 'enrollment-profile', id: before.id }, { before });
      koa.status = 204;
    },
  );

  api.post(
    '/:id/move',
    {
      scope: 'profiles:write',
      summary: 'Move one profile to a priority position (1 = highest)',
      params: idParams,
      body: moveBody,
      responses: { 200: { description: 'The new order', schema: orderSchema }, 404: NOT_FOUND, 409: STALE },
    },
    async (koa, { params, body }) => {
      const { before, order } = await store.move(params.id, body.toPosition, body.version);
      await catalog.announce(order._id);
      await audit(
        koa,
        'enrollment-profile.move',
        { type: 'enrollment-profile', id: params.id },
        {
          before: { order: before, version: body.version },
          after: { order: order.ids, version: order.orderVersion, toPosition: body.toPosition },
        },
      );
      koa.body = { order: order.ids, version: order.orderVersion };
    },
  );
}
