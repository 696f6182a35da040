import type Router from '@koa/router';
import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  NotFoundProblem,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { SsoPolicyStore, StoredSsoPolicy } from './policy-store.js';
import type { RegistrationService } from './registration-service.js';
import { ssoPolicySchema } from './sso-policy.js';

const policyBody = (stored: StoredSsoPolicy) => ({
  ...stored.policy,
  version: stored.version,
  updatedBy: stored.updatedBy ?? null,
  updatedAt: stored.updatedAt ?? null,
});

const storedPolicySchema = ssoPolicySchema.extend({
  version: z.number().int(),
  updatedBy: z.string().nullable(),
  updatedAt: z.date().nullable(),
});

const readinessSchema = z.object({
  deviceId: z.string(),
  state: z.string(),
  steps: z.array(
    z.object({
      name: z.string(),
      state: z.enum(['queued', 'acknowledged', 'done', 'failed']),
      commandUuid: z.string().optional(),
      detail: z.string().optional(),
      updatedAt: z.date(),
    }),
  ),
  updatedAt: z.date(),
});

/** Admin API under /api/jit: the SSO policy and each device's readiness. */
export function mountJitRoutes(
  router: Router,
  ctx: PluginContext<unknown>,
  deps: { policies: SsoPolicyStore; registration: RegistrationService },
): void {
  const api = adminApi(router, ctx, { tags: ['policies'] });
  api.get(
    '/sso-policy',
    {
      scope: 'policies:read',
      summary: 'The Enterprise SSO extension policy installed on enrolled devices',
      responses: { 200: { description: 'The policy', schema: storedPolicySchema } },
    },
    async (koa) => {
      koa.body = policyBody(await deps.policies.current());
    },
  );

  api.put(
    '/sso-policy',
    {
      scope: 'policies:write',
      summary: 'Replace the SSO extension policy (devices enrolled later get it)',
      body: ssoPolicySchema,
      responses: { 200: { description: 'Saved', schema: storedPolicySchema } },
    },
    async (koa, { body: policy }) => {
      const before = await deps.policies.current();
      const saved = await deps.policies.save(policy, adminPrincipal(koa).id);
      await auditAdminAction(
        ctx,
        koa,
        'jit.ssoPolicy.update',
        { type: 'sso-policy', id: 'default' },
        { before: before.policy, after: saved.policy },
      );
      koa.body = policyBody(saved);
    },
  );

  api.get(
    '/devices/:deviceId',
    {
      scope: 'devices:read',
      tags: ['devices'],
      summary: 'Just-in-time registration readiness of a device (Authenticator, SSO profile)',
      params: z.object({ deviceId: z.string().min(1).max(100) }),
      responses: {
        200: { description: 'Readiness', schema: readinessSchema },
        404: { description: 'The device never went through just-in-time registration' },
      },
    },
    async (koa, { params }) => {
      const readiness = await deps.registration.get(params.deviceId);
      if (!readiness) throw new NotFoundProblem('no just-in-time registration for this device');
      koa.body = readiness;
    },
  );
}
