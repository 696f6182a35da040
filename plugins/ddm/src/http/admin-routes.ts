import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  etag,
  etagHeader,
  expectedVersion,
  ifMatchHeader,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  type StoredSettings,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { kindOf } from '../protocol/declarations.js';
import { declarationStatuses } from '../protocol/status.js';
import type { DdmService } from '../services/ddm-service.js';
import { type DdmSettings, ddmSettingsSchema } from '../settings.js';

const deviceParams = z.object({ deviceId: z.string().min(1).max(64) });

const declarationView = z.object({
  type: z.string(),
  identifier: z.string(),
  kind: z.enum(['activation', 'configuration', 'asset', 'management']),
  serverToken: z.string(),
  payload: z.record(z.string(), z.unknown()),
  deviceStatus: z
    .object({
      active: z.boolean(),
      valid: z.string(),
      serverToken: z.string(),
      reasons: z.array(z.object({ code: z.string(), description: z.string().optional() })),
    })
    .nullable()
    .describe('What the device last reported about this declaration (management.declarations)'),
});

const deviceView = z.object({
  deviceId: z.string(),
  declarationsToken: z.string(),
  lastSync: z.object({ token: z.string(), at: z.date() }).nullable().describe('What the device last fetched'),
  declarations: z.array(declarationView),
  status: z.array(z.object({ name: z.string(), value: z.unknown(), reportedAt: z.date() })),
  softwareUpdate: z
    .object({ targetOSVersion: z.string(), deadline: z.string(), state: z.string() })
    .nullable()
    .describe('The OS update policy that applies, and where the device stands'),
});

const settingsView = ddmSettingsSchema.extend({
  version: z.number().int().describe('0 while the defaults apply; send it back (or If-Match) to save'),
  updatedBy: z.string().nullable(),
  updatedAt: z.date().nullable(),
});
const settingsBody = ddmSettingsSchema.extend({ version: z.number().int().min(0).optional() });

const viewOf = (stored: StoredSettings<DdmSettings>) => ({
  ...stored.value,
  version: stored.version,
  updatedBy: stored.updatedBy ?? null,
  updatedAt: stored.updatedAt ?? null,
});

/** Admin API under /api/ddm: a device's declarations and last status, re-sync, the settings. */
export function mountDdmRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  ddm: DdmService,
  resyncAll: () => Promise<void>,
): void {
  const api = adminApi(router, ctx, { tags: ['ddm'] });

  api.get(
    '/devices/:deviceId',
    {
      scope: 'devices:read',
      summary: "A device's declarations, what it reported about them, and its latest DDM status",
      params: deviceParams,
      responses: { 200: { description: 'The device', schema: deviceView }, 404: { description: 'No device' } },
    },
    async (koa, { params }) => {
      const target = await ddm.sets.target(params.deviceId);
      const status = await ddm.status(params.deviceId);
      if (!target && status.length === 0) throw new NotFoundProblem('no managed device with this id');
      const { set } = await ddm.sets.forDevice(params.deviceId);
      const reported = new Map(
        declarationStatuses(status.find((s) => s.name === 'management.declarations')?.value).map((d) => [
          d.identifier,
          d,
        ]),
      );
      const lastSync = await ddm.lastSync(params.deviceId);
      koa.body = {
        deviceId: params.deviceId,
        declarationsToken: set.token,
        lastSync: lastSync ? { token: lastSync.token, at: lastSync.servedAt } : null,
        declarations: set.declarations.map((d) => {
          const seen = reported.get(d.Identifier);
          return {
            type: d.Type,
            identifier: d.Identifier,
            kind: kindOf(d.Type),
            serverToken: d.ServerToken,
            payload: d.Payload,
            deviceStatus: seen
              ? { active: seen.active, valid: seen.valid, serverToken: seen.serverToken, reasons: seen.reasons }
              : null,
          };
        }),
        status,
        softwareUpdate: (await ddm.softwareUpdate(params.deviceId)) ?? null,
      };
    },
  );

  api.post(
    '/devices/:deviceId/sync',
    {
      scope: 'devices:write',
      summary: 'Send the DeclarativeManagement command if the device has not fetched its current set',
      params: deviceParams,
      responses: {
        202: { description: 'Compared', schema: z.object({ deviceId: z.string(), queued: z.boolean() }) },
        404: { description: 'No device' },
      },
    },
    async (koa, { params }) => {
      if (!(await ddm.sets.target(params.deviceId))) throw new NotFoundProblem('no managed device with this id');
      const [result] = await ddm.requestSync([params.deviceId]);
      await auditAdminAction(ctx, koa, 'ddm.device.sync', { type: 'device', id: params.deviceId });
      koa.status = 202;
      koa.body = result;
    },
  );

  api.get(
    '/settings',
    {
      scope: 'policies:read',
      summary: 'The OS update policies and built-in configurations',
      responses: {
        200: { description: 'The settings, with their version', schema: settingsView, headers: etagHeader },
      },
    },
    async (koa) => {
      const stored = await ddm.sets.settings.current();
      koa.set('ETag', etag(stored.version));
      koa.body = viewOf(stored);
    },
  );

  api.put(
    '/settings',
    {
      scope: 'policies:write',
      summary: 'Replace the settings; devices whose declarations change are told to sync (needs the version you read)',
      headers: ifMatchHeader,
      body: settingsBody,
      responses: {
        200: { description: 'Saved', schema: settingsView, headers: etagHeader },
        400: { description: 'Invalid settings' },
        409: { description: 'Stale: someone saved since you read them' },
        412: { description: 'If-Match is not a version' },
        428: { description: 'No version given (If-Match or body `version`)' },
      },
    },
    async (koa, { body }) => {
      const { version: bodyVersion, ...values } = body;
      const version = expectedVersion(koa, bodyVersion);
      const { before, after } = await ddm.sets.settings.save(values, version, adminPrincipal(koa).id);
      await auditAdminAction(
        ctx,
        koa,
        'ddm.settings.update',
        { type: 'ddm-settings', id: 'default' },
        { before: { ...before.value, version: before.version }, after: { ...after.value, version: after.version } },
      );
      await resyncAll();
      koa.set('ETag', etag(after.version));
      koa.body = viewOf(after);
    },
  );
}
