import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  ProblemError,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { ComplianceService } from './compliance-service.js';
import { compliancePolicySchema, evaluate } from './policy.js';
import type { StoredPolicy } from './storage/compliance-records.js';

const policyView = compliancePolicySchema.extend({
  version: z.number().int().describe('0 while the config defaults apply'),
  updatedBy: z.string().nullable(),
  updatedAt: z.date().nullable(),
});

const policyBody = (stored: StoredPolicy): z.output<typeof policyView> => ({
  ...stored.policy,
  version: stored.version,
  updatedBy: stored.updatedBy ?? null,
  updatedAt: stored.updatedAt ?? null,
});

const evaluationView = z.object({
  deviceId: z.string(),
  state: z.enum(['not-evaluated', 'pending', 'compliant', 'not-compliant']),
  platform: z.enum(['iOS', 'iPadOS']).optional(),
  osVersion: z.string().optional(),
  minimum: z.string().optional(),
  action: z.string().optional().describe('What the device user should do: "Update iOS to 17.5 or later"'),
  reportedAt: z.date().nullable().optional(),
});

const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });
const deviceParams = z.object({ deviceId: z.string().max(64) });

/** Admin API under /api/compliance: the policy, one device's evaluation, the devices below the minimum. */
export function mountComplianceRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  compliance: ComplianceService,
) {
  const api = adminApi(router, ctx, { tags: ['compliance'] });

  api.get(
    '/policy',
    {
      scope: 'policies:read',
      summary: 'The minimum OS version policy',
      responses: { 200: { description: 'The policy', schema: policyView } },
    },
    async (koa) => {
      koa.body = policyBody(await compliance.policies.current());
    },
  );

  api.put(
    '/policy',
    {
      scope: 'policies:write',
      summary: 'Replace the policy; it applies to every device at once',
      body: compliancePolicySchema,
      responses: { 200: { description: 'Saved', schema: policyView }, 400: { description: 'Invalid policy' } },
    },
    async (koa, { body }) => {
      const before = await compliance.policies.current();
      const saved = await compliance.policies.save(body, adminPrincipal(koa).id);
      await auditAdminAction(
        ctx,
        koa,
        'compliance.policy.update',
        { type: 'compliance-policy', id: 'default' },
        { before: before.policy, after: saved.policy },
      );
      koa.body = policyBody(saved);
    },
  );

  api.get(
    '/devices',
    {
      scope: 'devices:read',
      summary: 'Devices whose last report is below the minimum, oldest OS first',
      query: listQuery,
      responses: {
        200: { description: 'Not compliant devices', schema: z.object({ items: z.array(evaluationView) }) },
      },
    },
    async (koa, { query }) => {
      const { policy } = await compliance.policies.current();
      const docs = await compliance.nonCompliant(policy, query.limit);
      koa.body = {
        items: docs.map((doc) => ({
          deviceId: doc._id,
          ...evaluate(policy, { platform: doc.platform, osVersion: doc.osVersion }),
          reportedAt: doc.reportedAt ?? null,
        })),
      };
    },
  );

  api.get(
    '/devices/:deviceId',
    {
      scope: 'devices:read',
      summary: "One device's compliance",
      params: deviceParams,
      responses: { 200: { description: 'The evaluation', schema: evaluationView }, 404: { description: 'No device' } },
    },
    async (koa, { params }) => {
      const report = await compliance.report(params.deviceId);
      if (!report) throw new NotFoundProblem('no such device');
      koa.body = report;
    },
  );

  api.post(
    '/devices/:deviceId/refresh',
    {
      scope: 'devices:write',
      summary: 'Ask the device for its OS version now (DeviceInformation)',
      params: deviceParams,
      responses: {
        202: { description: 'Queued', schema: z.object({ deviceId: z.string(), requested: z.literal(true) }) },
        404: { description: 'No device' },
        409: { description: 'The device is not enrolled' },
      },
    },
    async (koa, { params }) => {
      if (!(await compliance.report(params.deviceId))) throw new NotFoundProblem('no such device');
      if ((await compliance.requestReports([params.deviceId])) === 0) {
        throw new ProblemError(409, 'Conflict', 'the device is not enrolled; it cannot be asked');
      }
      await auditAdminAction(ctx, koa, 'compliance.device.refresh', { type: 'device', id: params.deviceId });
      koa.status = 202;
      koa.body = { deviceId: params.deviceId, requested: true };
    },
  );
}
