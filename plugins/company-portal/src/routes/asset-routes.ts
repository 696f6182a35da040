import { NotFoundProblem, type PluginRouter } from 'enrollment-gateway/sdk';
import type { PortalAssets } from '../assets.js';
import { ASSET_PREFIX } from '../assets.js';

/** The stylesheet, script, drawings and icon: content-hashed names, so they are cached for a year. */
export function mountAssetRoutes(router: PluginRouter, assets: PortalAssets): void {
  router.get(`${ASSET_PREFIX}:file`, (ctx) => {
    const asset = assets.byPath.get(ctx.path);
    if (!asset) throw new NotFoundProblem('no such portal asset');
    ctx.type = asset.type;
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.body = asset.body;
  });
  // iOS asks for these at the site root when a page is added to the Home Screen.
  for (const path of ['/apple-touch-icon.png', '/apple-touch-icon-precomposed.png']) {
    router.get(path, (ctx) => {
      ctx.type = 'image/png';
      ctx.set('Cache-Control', 'public, max-age=86400');
      ctx.body = assets.icon.body;
    });
  }
}
