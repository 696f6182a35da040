import { html, type PluginContext, type PluginRouter, trustedHtml } from 'enrollment-gateway/sdk';
import QRCode from 'qrcode';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';

/** The portal deep link device users open in Safari, with a QR code to scan from the iPhone's camera. */
export function mountEnrollPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(router, ctx, { path: '/enroll', scope: 'profiles:read', section: '/admin/enroll' }, async () => {
    const url = `${ctx.gateway.publicUrl}${ctx.config.portalPath}`;
    // qrcode builds the SVG from the URL alone (paths, no script): safe to embed.
    const svg = await QRCode.toString(url, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return {
      title: 'Enrollment link',
      body: html`<p>Send device users this link, or let them scan the code with the iPhone or iPad camera. It opens the
Company Portal website in Safari, where they sign in and download the management profile.</p>
<p><a href="${url}">${url}</a></p>
<figure class="qr" role="img" aria-label="QR code of ${url}">${trustedHtml(svg)}</figure>`,
    };
  });
}
