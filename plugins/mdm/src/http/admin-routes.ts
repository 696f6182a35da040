import type Router from '@koa/router';
import {
  adminPrincipal,
  auditAdminAction,
  ConflictProblem,
  NotFoundProblem,
  type PluginContext,
  readJsonBody,
  requireAdminScope,
  validate,
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
import type { CommandDoc, DeviceDoc, MdmModels } from '../storage/models.js';

const listQuery = z.object({
  state: z.enum(['pending', 'enrolled', 'checked-out', 'retiring', 'retired']).optional(),
  userId: z.string().max(200).optional(),
  cursor: z
    .string()
    .regex(/^[0-9a-f]{24}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const enqueueBody = z.object({
  requestType: z.string().min(1).max(100),
  payload: z.record(z.string(), z.unknown()).optional(),
  commandUuid: z
    .string()
    .regex(/^[A-Za-z0-9-]{8,64}$/)
    .optional(),
});

const enrollmentBody = z.object({ userId: z.string().min(1).max(200), profileId: z.string().max(200).optional() });

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
  router: Router,
  ctx: PluginContext<unknown>,
  deps: {
    models: MdmModels;
    commands: CommandService;
    enrollments: EnrollmentService;
    certificates: CertificateService;
  },
): void {
  const { models } = deps;
  const audit = (koa: Koa.Context, action: string, target: { type: string; id: string }, after?: unknown) =>
    auditAdminAction(ctx, koa, action, target, { after });

  router.get('/devices', requireAdminScope(ctx, 'devices:read'), async (koa) => {
    const query = validate(listQuery, koa.query);
    const filter: Record<string, unknown> = {};
    if (query.state) filter.state = query.state;
    if (query.userId) filter.userId = query.userId;
    if (query.cursor) filter._id = { $gt: new Types.ObjectId(query.cursor) };
    const docs = await models.devices
      .find(filter, { unlockTokenSealed: 0, identityFingerprints: 0 })
      .sort({ _id: 1 })
      .limit(query.limit + 1)
      .lean();
    const page = docs.slice(0, query.limit);
    koa.body = {
      items: page.map((doc) => toDeviceRecord(doc as unknown as DeviceDoc)),
      nextCursor: docs.length > query.limit ? String(page[page.length - 1]._id) : null,
    };
  });

  router.get('/devices/:id', requireAdminScope(ctx, 'devices:read'), async (koa) => {
    const doc = await models.devices
      .findById(deviceOr404(koa.params.id), { unlockTokenSealed: 0, identityFingerprints: 0 })
      .lean();
    if (!doc) throw new NotFoundProblem('no such device');
    koa.body = {
      ...toDeviceRecord(doc as unknown as DeviceDoc),
      pendingCommands: await deps.commands.pendingCount(String(doc._id)),
    };
  });

  router.get('/devices/:id/commands', requireAdminScope(ctx, 'devices:read'), async (koa) => {
    const deviceId = String(deviceOr404(koa.params.id));
    const query = validate(listQuery.pick({ cursor: true, limit: true }), koa.query);
    const filter: Record<string, unknown> = { deviceId };
    if (query.cursor) filter._id = { $lt: new Types.ObjectId(query.cursor) };
    const docs = (await models.commands
      .find(filter, { plist: 0 })
      .sort({ _id: -1 })
      .limit(query.limit + 1)
      .lean()) as unknown as CommandDoc[];
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
        result: doc.resultRaw ? plistToJson(parseDevicePlist(toBuffer(doc.resultRaw))) : undefined,
      })),
      nextCursor: docs.length > query.limit ? String(page[page.length - 1]._id) : null,
    };
  });

  router.post('/devices/:id/commands', requireAdminScope(ctx, 'devices:write'), async (koa) => {
    const deviceId = String(deviceOr404(koa.params.id));
    const body = await readJsonBody(koa, enqueueBody);
    const principal = adminPrincipal(koa);
    const [result] = await deps.commands.enqueue([deviceId], { ...body, origin: `admin:${principal.id}` });
    if (!result) throw new NotFoundProblem('no such device, or it is no longer managed');
    if (!result.created) throw new ConflictProblem(`command ${result.commandUuid} is already queued for this device`);
    await audit(
      koa,
      'mdm.command.enqueue',
      { type: 'device', id: deviceId },
      { requestType: body.requestType, commandUuid: result.commandUuid },
    );
    koa.status = 202;
    koa.body = { commandUuid: result.commandUuid };
  });

  router.get('/devices/:id/certificates', requireAdminScope(ctx, 'devices:read'), async (koa) => {
    const deviceId = String(deviceOr404(koa.params.id));
    const docs = await models.certificates.find({ deviceId }).sort({ notBefore: -1 }).lean();
    koa.body = {
      items: docs.map((c) => ({
        serial: c._id,
        subject: c.subject,
        fingerprint: c.fingerprint,
        notBefore: c.notBefore,
        notAfter: c.notAfter,
        revokedAt: c.revokedAt ?? null,
        renewedFrom: c.renewedFrom ?? null,
      })),
    };
  });

  router.post('/certificates/:serial/revoke', requireAdminScope(ctx, 'devices:write'), async (koa) => {
    const { reason } = await readJsonBody(koa, z.object({ reason: z.string().min(1).max(200) }));
    const revoked = await deps.certificates.revoke(koa.params.serial, reason);
    if (!revoked) throw new NotFoundProblem('no such certificate');
    await audit(koa, 'mdm.certificate.revoke', { type: 'certificate', id: koa.params.serial }, { reason });
    koa.body = { serial: koa.params.serial, revokedAt: revoked.revokedAt };
  });

  router.post('/enrollments', requireAdminScope(ctx, 'enrollments:write'), async (koa) => {
    const body = await readJsonBody(koa, enrollmentBody);
    const session = await deps.enrollments.create({ ...body, origin: `admin:${adminPrincipal(koa).id}` });
    await audit(
      koa,
      'mdm.enrollment.create',
      { type: 'enrollment', id: session.id },
      { userId: body.userId, expiresAt: session.expiresAt },
    );
    koa.status = 201;
    koa.body = { id: session.id, profileUrl: session.profileUrl, expiresAt: session.expiresAt };
  });
}
