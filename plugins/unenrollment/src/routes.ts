import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  ConflictProblem,
  type DeviceDirectory,
  type EnrollmentSessionService,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  type Unenrollment,
  type UnenrollmentActor,
  type UserDirectory,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import type { Unenrollments } from './service.js';

/** Device states from which a device can still be retired. */
const RETIRABLE = new Set(['pending', 'enrolled', 'retiring', 'checked-out']);

const deviceParams = z.object({ deviceId: z.string().regex(/^[0-9a-f]{24}$/, 'a device id') });
const userParams = z.object({ userId: z.string().min(1).max(200) });
const listQuery = z.object({
  state: z.enum(['in-progress', 'completed', 'device-unreachable']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const actorSchema = z.object({
  kind: z.enum(['user', 'admin', 'device', 'system']),
  id: z.string(),
  displayName: z.string().optional(),
});
const triggerSchema = z.enum(['user', 'admin', 'checkout', 'inactivity']);
const unenrollmentSchema = z.object({
  deviceId: z.string(),
  udid: z.string(),
  userId: z.string().optional(),
  enrollmentId: z.string().optional().describe('The enrollment retired; the device may have enrolled again since'),
  trigger: triggerSchema,
  requestedBy: actorSchema,
  requests: z.array(z.object({ trigger: triggerSchema, requestedBy: actorSchema, at: z.date() })).optional(),
  state: z.enum(['in-progress', 'completed', 'device-unreachable']),
  steps: z.array(
    z.object({
      name: z.string().describe('remove-app:<bundle id>, remove-profile:<identifier>, revoke-certificates …'),
      state: z.enum(['pending', 'running', 'done', 'skipped', 'failed', 'timed-out']),
      commandUuid: z.string().optional(),
      detail: z.string().optional().describe("What the device or the server answered; the device's error message"),
      attempts: z.number().int(),
      updatedAt: z.date(),
    }),
  ),
  startedAt: z.date(),
  completedAt: z.date().optional(),
});

const TAGS = ['unenrollment'];

function adminActor(koa: Koa.Context): UnenrollmentActor {
  const principal = adminPrincipal(koa);
  return { kind: 'admin', id: principal.id, displayName: principal.displayName };
}

export interface RouteDeps {
  unenrollments: Unenrollments;
  directory: () => DeviceDirectory;
  users: () => UserDirectory | undefined;
  enrollments: () => EnrollmentSessionService;
}

/** Admin API under /api/unenrollment: retire one device or every device of a disabled user; progress. */
export function mountUnenrollmentRoutes(router: PluginRouter, ctx: PluginContext<unknown>, deps: RouteDeps): void {
  const api = adminApi(router, ctx, { tags: TAGS });

  api.post(
    '/devices/:deviceId/retire',
    {
      scope: 'devices:write',
      summary: 'Retire a device: remove what the gateway installed, revoke its identity, erase its secrets',
      description:
        'Starts the unenrollment, or returns the one already running for this enrollment of the device (a repeated call changes nothing).',
      params: deviceParams,
      responses: {
        202: { description: 'The unenrollment, running', schema: unenrollmentSchema },
        404: { description: 'No such device' },
        409: { description: 'The device is already retired' },
      },
    },
    async (koa, { params }) => {
      const unenrollment = await deps.unenrollments.start({
        deviceId: params.deviceId,
        trigger: 'admin',
        requestedBy: adminActor(koa),
      });
      await auditAdminAction(
        ctx,
        koa,
        'unenrollment.retire',
        { type: 'device', id: params.deviceId },
        {
          after: { state: unenrollment.state, startedAt: unenrollment.startedAt },
        },
      );
      koa.status = 202;
      koa.body = unenrollment;
    },
  );

  api.get(
    '/devices/:deviceId',
    {
      scope: 'devices:read',
      summary: "The device's latest unenrollment, with each step's result",
      params: deviceParams,
      responses: {
        200: { description: 'The unenrollment', schema: unenrollmentSchema },
        404: { description: 'The device was never unenrolled' },
      },
    },
    async (koa, { params }) => {
      const unenrollment = await deps.unenrollments.get(params.deviceId);
      if (!unenrollment) throw new NotFoundProblem('this device has not been unenrolled');
      koa.body = unenrollment;
    },
  );

  api.get(
    '/unenrollments',
    {
      scope: 'devices:read',
      summary: 'Recent unenrollments, newest first',
      query: listQuery,
      responses: { 200: { description: 'Unenrollments', schema: z.object({ items: z.array(unenrollmentSchema) }) } },
    },
    async (koa, { query }) => {
      koa.body = { items: await deps.unenrollments.list(query) };
    },
  );

  // Issue 4: a user disabled by the admin cannot enroll, and their devices can be retired in bulk.
  api.post(
    '/users/:userId/retire',
    {
      scope: 'devices:write',
      summary: 'Retire every device of a disabled user, and cancel their unused enrollment links',
      params: userParams,
      responses: {
        202: {
          description: 'The unenrollments started (or already running)',
          schema: z.object({
            userId: z.string(),
            unenrollments: z.array(unenrollmentSchema),
            cancelledEnrollments: z.number().int(),
          }),
        },
        404: { description: 'No such user' },
        409: { description: 'The user is still enabled, or no user directory is configured' },
      },
    },
    async (koa, { params }) => {
      const users = deps.users();
      if (!users) throw new ConflictProblem('no user directory is configured (enable identity-entra)');
      const user = await users.get(params.userId);
      if (!user) throw new NotFoundProblem('no such user');
      if (user.enabled) throw new ConflictProblem('disable the user first; bulk retirement is for disabled users');
      const requestedBy = adminActor(koa);
      // Sessions first, including one whose profile is being installed (certificate issued, Authenticate not yet
      // seen): cancelled, its Authenticate is refused, so no device can appear after the list below. Links
      // handed out before the user was disabled must not enroll a device afterwards either.
      const cancelledEnrollments = await deps
        .enrollments()
        .cancelPending(params.userId, 'user disabled and retired', { includeCertificateIssued: true });
      const started = new Map<string, Unenrollment>();
      // The second pass catches a device whose Authenticate had read its session just before the cancel.
      for (let pass = 0; pass < 2; pass++) {
        const devices = (await deps.directory().listForUser(params.userId)).filter(
          (d) => RETIRABLE.has(d.state) && !started.has(d.id),
        );
        for (const device of devices) {
          started.set(
            device.id,
            await deps.unenrollments.start({ deviceId: device.id, trigger: 'admin', requestedBy }),
          );
        }
      }
      await auditAdminAction(
        ctx,
        koa,
        'unenrollment.retire-user',
        { type: 'user', id: params.userId },
        {
          after: { devices: [...started.keys()], cancelledEnrollments },
        },
      );
      koa.status = 202;
      koa.body = { userId: params.userId, unenrollments: [...started.values()], cancelledEnrollments };
    },
  );
}
