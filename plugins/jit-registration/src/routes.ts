import {
  adminApi,
  mountVersionedSettingsRoutes,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { RegistrationService } from './registration-service.js';
import { type SsoPolicy, ssoPolicySchema } from './sso-policy.js';
import type { SsoPolicyStore } from './storage/sso-policy-store.js';

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
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: { policies: SsoPolicyStore; registration: RegistrationService; policySaved?: () => Promise<void> },
): void {
  const api = adminApi(router, ctx, { tags: ['policies'] });
  mountVersionedSettingsRoutes<SsoPolicy>(api, ctx, {
    path: '/sso-policy',
    store: deps.policies,
    schema: ssoPolicySchema,
    scopeArea: 'policies',
    noun: 'the Enterprise SSO extension policy',
    audit: { action: 'jit.ssoPolicy.update', targetType: 'sso-policy' },
    onSaved: async () => deps.policySaved?.(),
  });

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
