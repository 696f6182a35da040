import { html, type PluginContext, type PluginRouter, type SafeHtml } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { field, formAlert } from './fields.js';

interface PushCertificate {
  installed: boolean;
  topic?: string;
  notAfter?: string;
  daysLeft?: number;
  expired?: boolean;
  pendingCsr?: boolean;
  warnings: { level: string; message: string }[];
  sending: { paused: boolean; reason?: string };
  health?: {
    problems: { kind: string; level: string; message: string }[];
    recent: {
      windowMinutes: number;
      sent: number;
      failed: Record<string, number>;
      lastFailure?: { reason: string; detail?: string; deviceId: string; at: string };
    };
  };
}

/** "active" only when nothing is paused or failing; otherwise what is wrong. */
function sendingState(cert: PushCertificate): string {
  if (cert.sending.paused) return `paused: ${cert.sending.reason ?? ''}`;
  return cert.health?.problems.some((p) => p.kind === 'failing') ? 'failing' : 'active';
}

function recentPushes(cert: PushCertificate): SafeHtml {
  const recent = cert.health?.recent;
  if (!recent) return html``;
  const failed = Object.entries(recent.failed);
  const last = recent.lastFailure;
  return html`<dt>Last ${recent.windowMinutes} minutes</dt><dd>${recent.sent} sent${failed.map(([reason, n]) => html`, ${n} failed (${reason})`)}</dd>
${last ? html`<dt>Last failure</dt><dd>${last.reason}${last.detail ? html` — ${last.detail}` : ''} · <a href="/admin/devices/${encodeURIComponent(last.deviceId)}">device</a> · ${last.at}</dd>` : ''}`;
}

/** The Apple MDM push certificate: status, CSR, upload (PEM or .p12), topic and expiry. */
export function mountPushPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/push-certificate', scope: 'apns:read', section: '/admin/push-certificate' },
    async (_koa, { api }) => {
      const cert = await api.must<PushCertificate>('/api/apns/certificate');
      return {
        title: 'Push certificate',
        scripts: ['push.js'],
        body: html`<section aria-labelledby="status-h"><h2 id="status-h">Status</h2>
${
  cert.installed
    ? html`<dl class="details"><dt>Topic</dt><dd><code>${cert.topic}</code></dd>
<dt>Expires</dt><dd>${cert.notAfter} (${cert.expired ? 'expired' : `${cert.daysLeft} days left`})</dd>
<dt>Sending</dt><dd>${sendingState(cert)}</dd>
${recentPushes(cert)}</dl>`
    : html`<p>No push certificate is installed: devices cannot be woken and enrollment is blocked.</p>`
}
${(cert.health?.problems ?? cert.warnings).map((w) => html`<p class="tone-${w.level === 'critical' ? 'critical' : 'warning'}">${w.message}</p>`)}
</section>
<section aria-labelledby="csr-h"><h2 id="csr-h">1. Certificate signing request</h2>
<p>Generate a CSR here (the key never leaves the gateway), have your MDM vendor sign it, then upload the signed request at Apple's Push Certificates Portal.</p>
<form id="csr-form" class="stack" data-api="/api/apns/csr" data-method="POST" data-success="event">
${formAlert}
${field({ name: 'commonName', label: 'Common name', control: ({ id, describedBy }) => html`<input id="${id}" name="commonName" value="Enrollment Gateway MDM push" maxlength="64" aria-describedby="${describedBy}">` })}
${field({ name: 'organization', label: 'Organization', control: ({ id, describedBy }) => html`<input id="${id}" name="organization" value="Enrollment Gateway" maxlength="64" aria-describedby="${describedBy}">` })}
${field({ name: 'email', label: 'Contact email (optional)', control: ({ id, describedBy }) => html`<input id="${id}" name="email" type="email" aria-describedby="${describedBy}">` })}
<button type="submit">Generate CSR</button>
</form>
<div id="csr-output" hidden><label for="csr-pem">CSR (PEM)</label><textarea id="csr-pem" rows="8" readonly></textarea>
<p><a id="csr-download" download="gateway-push.csr" href="#">Download the CSR</a></p></div>
</section>
<section aria-labelledby="upload-h"><h2 id="upload-h">2. Upload the certificate Apple issued</h2>
<p>A renewal must keep the topic; a new topic orphans every enrolled device.</p>
<form id="upload-form" class="stack" data-api="/api/apns/certificate" data-method="POST">
${formAlert}
${field({ name: 'file', label: 'Certificate file (.pem or .p12)', control: ({ id, describedBy }) => html`<input id="${id}" name="file" type="file" accept=".pem,.cer,.crt,.p12,.pfx" data-skip aria-describedby="${describedBy}">` })}
<input type="hidden" name="pem" data-upload="pem">
<input type="hidden" name="p12Base64" data-upload="p12">
${field({ name: 'password', label: 'Password of the .p12 (if any)', control: ({ id, describedBy }) => html`<input id="${id}" name="password" type="password" autocomplete="off" aria-describedby="${describedBy}">` })}
<div class="field"><label><input type="checkbox" name="replaceTopic" data-type="bool"> Accept a new topic (devices must re-enroll)</label></div>
<button type="submit">Upload</button>
</form></section>`,
      };
    },
  );
}
