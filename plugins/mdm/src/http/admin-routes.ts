import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  ConflictProblem,
  collectExtensions,
  type DeviceRecord,
  type DeviceStatusItem,
  deviceStatusItemsPoint,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  ProblemError,
  pageOf,
  pushServiceRef,
  type QueuedCommandInput,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { Types } from 'mongoose';
import { z } from 'zod';
import { parseDevicePlist } from '../protocol/index.js';
import type { CertificateService } from '../services/certificate-service.js';
import type { CommandService } from '../services/command-service.js';
import { toBuffer } from '../services/command-service.js';
import { toDeviceRecord } from '../services/directory.js';
import type { EnrollmentService } from '../services/enrollment-service.js';
import { DeviceListing } from '../storage/device-listing.js';
import type { DeviceViews } from '../storage/device-views.js';
import type { CertificateDoc, DeviceDoc, MdmModels } from '../storage/models.js';
import { commandBody, sentPayload } from './command-body.js';
import { deviceSchema, listDevices, listQuery } from './device-list.js';

const historyQuery = z.object({
  cursor: z
    .string()
    .regex(/^[0-9a-f]{24}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  full: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('true: data keys of the payloads in full (otherwise summarised above 64 KiB)'),
});

const deviceParams = z.object({ id: z.string().min(1).max(100) });

const enrollmentBody = z.object({ userId: z.string().min(1).max(200), profileId: z.string().max(200).optional() });

const commandSchema = z.object({
  commandUuid: z.string(),
  requestType: z.string(),
  state: z.string(),
  origin: z.string().optional(),
  createdAt: z.date(),
  sentAt: z.date().optional(),
  respondedAt: z.date().optional(),
  errorChain: z.array(z.record(z.string(), z.unknown())).optional(),
  payload: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('What was sent: the Command keys as the enqueue request takes them (data as {base64})'),
  result: z.unknown().optional().describe('The device answer, plist converted to JSON (data as {base64})'),
});

const certificateSchema = z.object({
  serial: z.string(),
  subject: z.string(),
  fingerprint: z.string(),
  notBefore: z.date(),
  notAfter: z.date(),
  revokedAt: z.date().nullable(),
  renewedFrom: z.string().nullable(),
});

const NOT_FOUND = { description: 'No such device' };
const TAGS = ['devices'];

/** A stored result passed the /mdm body limit when it arrived: its own size is the bound here. */
function resultOf(raw: Buffer | { buffer: Uint8Array } | undefined): unknown {
  if (!raw) return undefined;
  const bytes = toBuffer(raw);
  return plistToJson(parseDevicePlist(bytes, { maxBytes: bytes.length }));
}

function plistToJson(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  if (Array.isArray(value)) return value.map(plistToJson);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plistToJson(v)]));
  return value;
}

function deviceOr404(id: string): Types.ObjectId {
  if (!Types.ObjectId.isValid(id)) throw new NotFoundProblem('no such device');
  return new Types.ObjectId(id);
}

/** Admin API of the mdm plugin under /api/mdm: devices, command queue and history, enqueue, enrollment links. */
export function mountAdminRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: {
    models: MdmModels;
    views: DeviceViews;
    commands: CommandService;
    enrollments: EnrollmentService;
    certificates: CertificateService;
  },
): void {
  const { models } = deps;
  const listing = new DeviceListing(models);
  const audit = (koa: Koa.Context, action: string, target: { type: string; id: string }, after?: unknown) =>
    auditAdminAction(ctx, koa, action, target, { after });

  const api = adminApi(router, ctx, { tags: TAGS });

  const withStatusItems = async (records: DeviceRecord[]) => {
    const outcomes = await collectExtensions(ctx, deviceStatusItemsPoint, (contributor) =>
      contributor.statusFor(records),
    );
    return records.map((record) => ({
      ...record,
      statusItems: outcomes.flatMap(({ plugin, value }) =>
        (value[record.id] ?? []).map((item: DeviceStatusItem) => ({ ...item, source: plugin })),
      ),
    }));
  };

  const enqueue = async (koa: Koa.Context, deviceId: string, command: Omit<QueuedCommandInput, 'origin'>) => {
    const [result] = await deps.commands.enqueue([deviceId], { ...command, origin: `admin:${adminPrincipal(koa).id}` });
    if (!result) throw new NotFoundProblem('no such device, or it is no longer managed');
    if (!result.created) throw new ConflictProblem(`command ${result.commandUuid} is already queued for this device`);
    await audit(
      koa,
      'mdm.command.enqueue',
      { type: 'device', id: deviceId },
      { requestType: command.requestType, commandUuid: result.commandUuid },
    );
    return result.commandUuid;
  };

  api.get(
    '/devices',
    {
      scope: 'devices:read',
      summary: 'List devices: search, filter and sort, cursor-paginated',
      query: listQuery,
      responses: { 200: { description: 'A page of devices', schema: pageOf(deviceSchema) } },
    },
    async (koa, { query }) => {
      const assemble = async (bindings: DeviceDoc[]) => (await deps.views.ofBindings(bindings)).map(toDeviceRecord);
      const { page, nextCursor } = await listDevices(listing, assemble, query);
      koa.body = { items: await withStatusItems(page), nextCursor };
    },
  );

  api.get(
    '/devices/:id',
    {
      scope: 'devices:read',
      summary: 'One device: details, installed profiles, managed apps, status items',
      params: deviceParams,
      responses: {
        200: { description: 'The device', schema: deviceSchema.extend({ pendingCommands: z.number().int() }) },
        404: NOT_FOUND,
      },
    },
    async (koa, { params }) => {
      const view = await deps.views.byId(String(deviceOr404(params.id)));
      if (!view) throw new NotFoundProblem('no such device');
      const [device] = await withStatusItems([toDeviceRecord(view)]);
      koa.body = { ...device, pendingCommands: await deps.commands.pendingCount(device.id) };
    },
  );

  api.get(
    '/devices/:id/commands',
    {
      scope: 'devices:read',
      summary: 'Command history of a device, newest first, with results and error chains',
      params: deviceParams,
      query: historyQuery,
      responses: { 200: { description: 'A page of commands', schema: pageOf(commandSchema) } },
    },
    async (koa, { params, query }) => {
      const deviceId = String(deviceOr404(params.id));
      const docs = await deps.commands.history(deviceId, query.limit + 1, query.cursor);
      const page = docs.slice(0, query.limit);
      koa.body = {
        items: page.map((doc) => ({
          commandUuid: doc.commandUuid,
          requestType: doc.requestType,
          state: doc.state,
          origin: doc.origin,
          createdAt: doc.createdAt,
          sentAt: doc.sentAt,
          respondedAt: doc.respondedAt,
          errorChain: doc.errorChain,
          payload: sentPayload(doc, query.full),
          result: resultOf(doc.raw),
        })),
        nextCursor: docs.length > query.limit ? page[page.length - 1].id : null,
      };
    },
  );

  api.post(
    '/devices/:id/commands',
    {
      scope: 'devices:write',
      summary: 'Queue an MDM command (lock: DeviceLock) and wake the device',
      params: deviceParams,
      body: commandBody,
      responses: {
        202: { description: 'Queued', schema: z.object({ commandUuid: z.string() }) },
        404: { description: 'No such device, or it is no longer managed' },
        409: { description: 'A command with this commandUuid is already queued' },
      },
    },
    async (koa, { params, body }) => {
      const commandUuid = await enqueue(koa, String(deviceOr404(params.id)), body);
      koa.status = 202;
      koa.body = { commandUuid };
    },
  );

  api.post(
    '/devices/:id/refresh',
    {
      scope: 'devices:write',
      summary: 'Refresh information: queue DeviceInformation, ManagedApplicationList and ProfileList',
      params: deviceParams,
      responses: {
        202: { description: 'Queued', schema: z.object({ commandUuids: z.array(z.string()) }) },
        404: NOT_FOUND,
      },
    },
    async (koa, { params }) => {
      const deviceId = String(deviceOr404(params.id));
      const commandUuids: string[] = [];
      for (const requestType of ['DeviceInformation', 'ManagedApplicationList', 'ProfileList']) {
        commandUuids.push(await enqueue(koa, deviceId, { requestType }));
      }
      koa.status = 202;
      koa.body = { commandUuids };
    },
  );

  api.post(
    '/devices/:id/push',
    {
      scope: 'devices:write',
      summary: 'Push now: wake the device through APNs so it checks in',
      params: deviceParams,
      responses: {
        202: { description: 'Push requested (coalesced with other wakes)' },
        404: NOT_FOUND,
        409: { description: 'The device has no push token, or it is not managed' },
        503: { description: 'No push service is enabled' },
      },
    },
    async (koa, { params }) => {
      const view = await deps.views.byId(String(deviceOr404(params.id)));
      if (!view) throw new NotFoundProblem('no such device');
      const record = toDeviceRecord(view);
      if (record.state !== 'enrolled' || !record.pushable) {
        throw new ConflictProblem(
          `the device cannot be woken: it is ${record.state}${record.pushable ? '' : ', no push token'}`,
        );
      }
      const push = ctx.tryResolve(pushServiceRef);
      if (!push) throw new ProblemError(503, 'Push unavailable', 'no push service is enabled (the apns plugin)');
      await push.wake([record.id]);
      await audit(koa, 'mdm.device.push', { type: 'device', id: record.id });
      koa.status = 202;
    },
  );

  api.get(
    '/devices/:id/certificates',
    {
      scope: 'devices:read',
      summary: 'Identity certificates issued to a device',
      params: deviceParams,
      responses: {
        200: { description: 'Certificates, newest first', schema: z.object({ items: z.array(certificateSchema) }) },
      },
    },
    async (koa, { params }) => {
      const deviceId = String(deviceOr404(params.id));
      // The device's enrollments: those it authenticated with (facts), plus certificates of before the facts.
      const enrollmentIds = (
        await models.facts.find({ deviceId, kind: 'authenticated' }, { enrollmentId: 1 }).lean()
      ).map((f) => f.enrollmentId);
      const docs = await models.certificates
        .find({ $or: [{ enrollmentId: { $in: enrollmentIds } }, { deviceId }] })
        .sort({ notBefore: -1 })
        .lean<CertificateDoc[]>();
      const revokedAt = await deps.certificates.revokedAt(docs);
      koa.body = {
        items: docs.map((c) => ({
          serial: c._id,
          subject: c.subject,
          fingerprint: c.fingerprint,
          notBefore: c.notBefore,
          notAfter: c.notAfter,
          revokedAt: revokedAt.get(c._id) ?? null,
          renewedFrom: c.renewedFrom ?? null,
        })),
      };
    },
  );

  api.post(
    '/certificates/:serial/revoke',
    {
      scope: 'devices:write',
      summary: 'Revoke a device identity certificate',
      params: z.object({ serial: z.string().min(1).max(100) }),
      body: z.object({ reason: z.string().min(1).max(200) }),
      responses: {
        200: { description: 'Revoked', schema: z.object({ serial: z.string(), revokedAt: z.date() }) },
        404: { description: 'No such certificate' },
      },
    },
    async (koa, { params, body }) => {
      const revoked = await deps.certificates.revoke(params.serial, body.reason);
      if (!revoked) throw new NotFoundProblem('no such certificate');
      await audit(koa, 'mdm.certificate.revoke', { type: 'certificate', id: params.serial }, { reason: body.reason });
      koa.body = { serial: params.serial, revokedAt: revoked.revokedAt };
    },
  );

  api.post(
    '/enrollments',
    {
      scope: 'enrollments:write',
      tags: ['enrollment'],
      summary: 'Create a one-time enrollment link for a user',
      body: enrollmentBody,
      responses: {
        201: {
          description: 'The one-time profile URL',
          schema: z.object({ id: z.string(), profileUrl: z.string(), expiresAt: z.date() }),
        },
      },
    },
    async (koa, { body }) => {
      const session = await deps.enrollments.create({ ...body, origin: `admin:${adminPrincipal(koa).id}` });
      await audit(
        koa,
        'mdm.enrollment.create',
        { type: 'enrollment', id: session.id },
        { userId: body.userId, expiresAt: session.expiresAt },
      );
      koa.status = 201;
      koa.body = { id: session.id, profileUrl: session.profileUrl, expiresAt: session.expiresAt };
    },
  );
}
