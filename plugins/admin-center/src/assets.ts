import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { NotFoundProblem, type PluginRouter } from 'enrollment-gateway/sdk';
import { COMMON_JS } from './client/common.js';
import { DEVICE_JS } from './client/device.js';
import { GROUPS_JS } from './client/groups.js';
import { HOME_JS } from './client/home.js';
import { PROFILES_JS } from './client/profiles.js';
import { PUSH_JS } from './client/push.js';
import { ADMIN_CSS } from './client/styles.js';
import { WIZARD_JS } from './client/wizard.js';

interface Asset {
  type: string;
  body: string;
  etag: string;
}

const asset = (type: string, body: string): Asset => ({
  type,
  body,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`,
});

const ASSETS: Record<string, Asset> = {
  'admin.css': asset('text/css; charset=utf-8', ADMIN_CSS),
  'common.js': asset('text/javascript; charset=utf-8', COMMON_JS),
  'profiles.js': asset('text/javascript; charset=utf-8', PROFILES_JS),
  'wizard.js': asset('text/javascript; charset=utf-8', WIZARD_JS),
  'device.js': asset('text/javascript; charset=utf-8', DEVICE_JS),
  'push.js': asset('text/javascript; charset=utf-8', PUSH_JS),
  'groups.js': asset('text/javascript; charset=utf-8', GROUPS_JS),
  'home.js': asset('text/javascript; charset=utf-8', HOME_JS),
  // Chart.js from the installed package, served by the gateway itself: no CDN, and `script-src 'self'` holds.
  'chart.umd.js': asset(
    'text/javascript; charset=utf-8',
    readFileSync(
      path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js'),
      'utf8',
    ),
  ),
};

/** The admin center's scripts and stylesheet: public (no data in them), revalidated by ETag. */
export function mountAssets(router: PluginRouter): void {
  router.get('/assets/:name', (koa) => {
    const found = Object.hasOwn(ASSETS, koa.params.name) ? ASSETS[koa.params.name] : undefined;
    if (!found) throw new NotFoundProblem('no such asset');
    koa.set('ETag', found.etag);
    koa.set('Cache-Control', 'no-cache');
    koa.set('X-Content-Type-Options', 'nosniff');
    if (koa.get('if-none-match') === found.etag) {
      koa.status = 304;
      return;
    }
    koa.type = found.type;
    koa.body = found.body;
  });
}
