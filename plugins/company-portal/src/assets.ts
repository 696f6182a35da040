import { createHash } from 'node:crypto';
import { installIllustrations } from './assets/illustrations.js';
import { PORTAL_CSS } from './assets/portal-css.js';
import { PORTAL_JS } from './assets/portal-js.js';
import type { PortalSettings } from './config.js';
import { homeScreenIcon, luminance, parseHexColor, type Rgb, textColorOn } from './icon.js';
import { translator } from './strings.js';

export interface Asset {
  /** Where pages link to it: /portal/assets/<name>.<hash>.<ext>; the hash makes it cacheable forever. */
  path: string;
  type: string;
  body: Buffer;
}

export interface PortalAssets {
  css: Asset;
  js: Asset;
  icon: Asset;
  illustrations: Asset[];
  byPath: Map<string, Asset>;
  brand: string;
}

export const ASSET_PREFIX = '/portal/assets/';

function asset(name: string, ext: string, type: string, body: Buffer): Asset {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 12);
  return { path: `${ASSET_PREFIX}${name}.${hash}.${ext}`, type, body };
}

const hex = (rgb: Rgb) => `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;

/** Built once at start from the config: the branded stylesheet, the script, the drawings and the icon. */
export function buildAssets(config: PortalSettings): PortalAssets {
  const brand = parseHexColor(config.brandColor);
  // Links sit on white: use the brand colour only when it has at least 4.5:1 contrast there.
  const link = 1.05 / (luminance(brand) + 0.05) >= 4.5 ? hex(brand) : '#0b57a4';
  const vars = `:root{--brand:${hex(brand)};--on-brand:${hex(textColorOn(brand))};--link:${link}}`;
  const css = asset('portal', 'css', 'text/css; charset=utf-8', Buffer.from(vars + PORTAL_CSS));
  const js = asset('portal', 'js', 'text/javascript; charset=utf-8', Buffer.from(PORTAL_JS));
  const icon = asset('icon', 'png', 'image/png', homeScreenIcon(brand));
  const t = translator(config.locale, { org: config.organizationName });
  const illustrations = installIllustrations(t, hex(brand)).map((svg, i) =>
    asset(`install-step-${i + 1}`, 'svg', 'image/svg+xml', Buffer.from(svg)),
  );
  const byPath = new Map([css, js, icon, ...illustrations].map((a) => [a.path, a]));
  return { css, js, icon, illustrations, byPath, brand: hex(brand) };
}
