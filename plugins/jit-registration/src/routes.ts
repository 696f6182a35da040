import type Router from '@koa/router';
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
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { SsoPolicyStore, StoredSsoPolicy } from './policy-store.js';
import type { RegistrationService } from './registration-service.js';
import { ssoPolicySchema } from './sso-policy.js';

const policyBody = (stored: StoredSsoPolicy) => ({
  ...stored.value,
  version: stored.version,
  updatedBy: stored.updatedBy ?? null,
  updatedAt: stored.updatedAt ?? null,
});

const storedPolicySchema = ssoPolicySchema.extend({
  version: z.number().int().describe('0 while the config defaults apply; send it back (or If-Match) to save'),
  updatedBy: z.string().nullable(),
  updatedAt: z.date().nullable(),
});

const policyUpdateSchema = ssoPolicySchema.extend({
  version: z.number().int().min(0).optional().describe('The version you read (or send If-Match)'),
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
      responses: { 200: { description: 'The policy', schema: storedPolicySchema, headers: etagHeader } },
    },
    async (koa) => {
      const stored = await deps.policies.current();
      koa.set('ETag', etag(stored.version));
      koa.body = policyBody(stored);
    },
  );

  api.put(
    '/sso-policy',
    {
      scope: 'policies:write',
      summary: 'Replace the SSO extension policy (devices enrolled later get it; needs the version you read)',
      headers: ifMatchHeader,
      body: policyUpdateSchema,
      responses: {
        200: { description: 'Saved', schema: storedPolicySchema, headers: etagHeader },
        409: { description: 'Stale: someone saved the policy since you read it' },
        412: { description: 'If-Match is not a version' },
        428: { description: 'No version given (If-Match or body `version`)' },
      },
    },
    async (koa, { body }) => {
      const { version: bodyVersion, ...policy } = body;
      const version = expectedVersion(koa, bodyVersion);
      const { before, after: saved } = await deps.policies.save(policy, version, adminPrincipal(koa).id);
      await auditAdminAction(
        ctx,
        koa,
        'jit.ssoPolicy.update',
        { type: 'sso-policy', id: 'default' },
        { before: { ...before.value, version: before.version }, after: { ...saved.value, version: saved.version } },
      );
      koa.set('ETag', etag(saved.version));
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
