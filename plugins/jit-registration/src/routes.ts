import type Router from '@koa/router';
import {
  adminPrincipal,
  auditAdminAction,
  NotFoundProblem,
  type PluginContext,
  readJsonBody,
  requireAdminScope,
} from 'enrollment-gateway/sdk';
import type { SsoPolicyStore, StoredSsoPolicy } from './policy-store.js';
import type { RegistrationService } from './registration-service.js';
import { ssoPolicySchema } from './sso-policy.js';

const policyBody = (stored: StoredSsoPolicy) => ({
  ...stored.policy,
  version: stored.version,
  updatedBy: stored.updatedBy ?? null,
  updatedAt: stored.updatedAt ?? null,
});

/** Admin API under /api/jit: the SSO policy and each device's readiness. */
export function mountJitRoutes(
  router: Router,
  ctx: PluginContext<unknown>,
  deps: { policies: SsoPolicyStore; registration: RegistrationService },
): void {
  router.get('/sso-policy', requireAdminScope(ctx, 'policies:read'), async (koa) => {
    koa.body = policyBody(await deps.policies.current());
  });

  router.put('/sso-policy', requireAdminScope(ctx, 'policies:write'), async (koa) => {
    const policy = await readJsonBody(koa, ssoPolicySchema);
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
  });

  router.get('/devices/:deviceId', requireAdminScope(ctx, 'devices:read'), async (koa) => {
    const readiness = await deps.registration.get(koa.params.deviceId);
    if (!readiness) throw new NotFoundProblem('no just-in-time registration for this device');
    koa.body = readiness;
  });
}
