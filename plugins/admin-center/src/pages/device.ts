import { randomUUID } from 'node:crypto';
import {
  html,
  type PluginContext,
  type PluginRouter,
  type SafeHtml,
  type Unenrollment,
  unenrollmentRef,
} from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { ddmDeviceSection } from './ddm.js';
import { type DeviceRow, statusItems, when } from './devices.js';
import { formAlert } from './fields.js';

interface CommandRow {
  commandUuid: string;
  requestType: string;
  state: string;
  origin?: string;
  createdAt: string;
  respondedAt?: string;
  errorChain?: Record<string, unknown>[];
  result?: unknown;
}

function errorChain(chain: Record<string, unknown>[] | undefined): SafeHtml {
  if (!chain || chain.length === 0) return html``;
  return html`<ol class="error-chain">${chain.map(
    (error) =>
      html`<li>${String(error.LocalizedDescription ?? error.USEnglishDescription ?? 'Error')} <span class="muted">(${String(error.ErrorDomain ?? '')} ${String(error.ErrorCode ?? '')})</span></li>`,
  )}</ol>`;
}

function commandTable(items: readonly CommandRow[]): SafeHtml {
  if (items.length === 0) return html`<p>No commands yet.</p>`;
  return html`<table class="list"><caption>Command history (newest first)</caption>
<thead><tr><th scope="col">Command</th><th scope="col">State</th><th scope="col">Queued</th><th scope="col">Answered</th><th scope="col">Result</th></tr></thead>
<tbody>${items.map(
    (command) => html`<tr><td>${command.requestType}<br><span class="muted">${command.origin ?? ''}</span></td>
<td>${command.state}</td><td>${when(command.createdAt)}</td><td>${when(command.respondedAt)}</td>
<td>${errorChain(command.errorChain)}${
      command.result !== undefined
        ? html`<details><summary>Result</summary><pre>${JSON.stringify(command.result, null, 2)}</pre></details>`
        : ''
    }</td></tr>`,
  )}</tbody></table>`;
}

interface DevicePush {
  last?: { result: 'sent' | 'failed'; reason?: string; detail?: string; status?: number; at: string };
  lastSentAt?: string;
}

/** The last push the gateway tried, and why it failed: a token on record says nothing about delivery. */
function lastPush(push: DevicePush): SafeHtml {
  const last = push.last;
  if (!last) return html`no push sent yet · `;
  if (last.result === 'sent') return html`<span class="tone-ok">last push delivered to APNs ${when(last.at)}</span> · `;
  return html`<span class="tone-critical">last push failed ${when(last.at)}: ${last.reason}${last.status ? ` (HTTP ${last.status})` : ''}${last.detail ? ` — ${last.detail}` : ''}</span>${push.lastSentAt ? ` (last delivered ${when(push.lastSentAt)})` : ''} · `;
}

function retireProgress(unenrollment: Unenrollment | undefined): SafeHtml {
  if (!unenrollment) return html``;
  return html`<h2>Retirement: ${unenrollment.state}</h2>
<ol class="steps-progress">${unenrollment.steps.map(
    (step) =>
      html`<li class="step-${step.state}">${step.name}: <strong>${step.state}</strong>${step.detail ? html` — ${step.detail}` : ''}</li>`,
  )}</ol>`;
}

function action(path: string, label: string, extra: SafeHtml = html``, confirm?: string): SafeHtml {
  return html`<form class="inline" data-api="${path}" data-method="POST"${extra.value ? '' : html` data-no-body`}${confirm ? html` data-confirm="${confirm}"` : ''}>
${formAlert}${extra}<button type="submit">${label}</button></form>`;
}

/** One device: details, status, profiles, apps, command history, actions, and retirement progress (live). */
export function mountDevicePage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/devices/:id', scope: 'devices:read', section: '/admin/devices' },
    async (koa, { api }) => {
      const id = encodeURIComponent(koa.params.id);
      const device = await api.must<DeviceRow & { pendingCommands: number }>(`/api/mdm/devices/${id}`);
      const commands = await api.must<{ items: CommandRow[] }>(`/api/mdm/devices/${id}/commands?limit=50`);
      const unenrollments = ctx.tryResolve(unenrollmentRef);
      const retirement = await unenrollments?.get(device.id);
      // Absent when the apns plugin is off or the admin may not read it: the row then shows the token only.
      const push = await api.get<DevicePush>(`/api/apns/devices/${id}/push`);
      const base = `/api/mdm/devices/${id}`;
      const managed = device.state === 'enrolled';
      return {
        title: device.deviceName ?? device.productName ?? device.udid,
        current: '/admin/devices',
        scripts: ['device.js'],
        body: html`<dl class="details">
  <dt>State</dt><dd>${device.state}</dd>
  <dt>User</dt><dd>${device.userId ? html`<a href="/admin/users/${encodeURIComponent(device.userId)}">${device.userId}</a>` : '—'}</dd>
  <dt>Model</dt><dd>${device.productName ?? device.model ?? '—'}</dd>
  <dt>OS version</dt><dd>${device.osVersion ?? '—'}</dd>
  <dt>Serial number</dt><dd>${device.serialNumber ?? '—'}</dd>
  <dt>${device.userEnrollment ? 'Enrollment ID (User Enrollment: no UDID)' : 'UDID'}</dt><dd><code>${device.udid}</code></dd>
  <dt>Enrolled</dt><dd>${when(device.enrolledAt)}</dd>
  <dt>Last check-in</dt><dd>${when(device.lastSeenAt)}</dd>
  <dt>Push</dt><dd>${device.pushable ? 'token on record' : 'no push token'} · ${push.ok ? lastPush(push.body) : ''}${device.pendingCommands} pending command(s)</dd>
  <dt>Status</dt><dd>${device.statusItems.length > 0 ? statusItems(device.statusItems) : '—'}</dd>
</dl>
<h2>Actions</h2>
${
  managed
    ? html`<div class="actions">
${action(`${base}/push`, 'Push now')}
${action(`${base}/refresh`, 'Refresh information')}
${action(
  `${base}/commands`,
  'Lock',
  html`<input type="hidden" name="requestType" value="DeviceLock"><input type="hidden" name="commandUuid" value="${randomUUID()}">
<label>Lock screen message <input name="payload.Message" maxlength="200"></label>`,
  'Lock this device now?',
)}
${
  unenrollments
    ? action(
        `/api/unenrollment/devices/${id}/retire`,
        'Retire',
        html``,
        'Retire this device? The gateway removes everything it installed and stops managing it.',
      )
    : ''
}
</div>`
    : html`<p>The device is ${device.state}: no actions.</p>`
}
<p id="live-status" class="status" role="status" aria-live="polite"></p>
<section id="live" data-live-src="/admin/devices/${id}" data-events="/api/admin-center/devices/${id}/events" aria-label="Live status">
${retireProgress(retirement)}
<h2>Installed profiles</h2>
${device.installedProfiles.length > 0 ? html`<ul>${device.installedProfiles.map((p) => html`<li>${p.displayName ?? p.identifier} <span class="muted">${p.identifier}</span></li>`)}</ul>` : html`<p>None reported yet (Refresh information asks the device).</p>`}
<h2>Managed apps</h2>
${device.managedApps.length > 0 ? html`<ul>${device.managedApps.map((a) => html`<li>${a.identifier}: ${a.status ?? 'unknown'}</li>`)}</ul>` : html`<p>None reported yet.</p>`}
${await ddmDeviceSection(api, id)}
<h2>Commands</h2>
${commandTable(commands.items)}
</section>`,
      };
    },
  );
}
