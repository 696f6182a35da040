import { NotFoundProblem, type PluginContext, type PluginRouter, rateLimit } from 'enrollment-gateway/sdk';
import type { DdmConfig } from '../config.js';
import type { DeclarationSets } from '../services/declaration-sets.js';

/**
 * GET /ddm/profiles/<token>: the profile a legacy declaration's ProfileURL names (docs/ddm.md, Legacy profiles).
 * The token is the credential, checked by HMAC; anything else is 404, never 401 (a device that gets a 401 asks its
 * user to sign in). Counted per client like the device check-ins.
 */
export function mountProfileRoutes(router: PluginRouter, ctx: PluginContext<DdmConfig>, sets: DeclarationSets): void {
  router.get('/:token', rateLimit(ctx, 'device'), async (koa) => {
    const bytes = await sets.legacy.download(koa.params.token);
    if (!bytes) throw new NotFoundProblem('no such profile');
    koa.set('Cache-Control', 'no-store');
    koa.type = 'application/x-apple-aspen-config';
    koa.body = bytes;
  });
}
