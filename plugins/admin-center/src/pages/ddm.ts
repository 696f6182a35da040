import { html, type PluginContext, type PluginRouter, type SafeHtml } from 'enrollment-gateway/sdk';
import type { AdminApiClient } from '../api-client.js';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { field, formAlert } from './fields.js';

interface DdmSettingsView {
  osUpdates: unknown[];
  passcode: unknown;
  statusSubscriptions: string[];
  managementProperties: Record<string, unknown>;
  version: number;
  updatedBy: string | null;
  updatedAt: string | null;
}

interface DdmDeviceView {
  declarationsToken: string;
  lastSync: { token: string; at: string } | null;
  declarations: {
    identifier: string;
    type: string;
    kind: string;
    deviceStatus: { active: boolean; valid: string; reasons: { code: string; description?: string }[] } | null;
  }[];
  status: { name: string; value: unknown; reportedAt: string }[];
  softwareUpdate: { targetOSVersion: string; deadline: string; state: string } | null;
}

const short = (value: unknown) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
};

function declarationState(d: DdmDeviceView['declarations'][number]): SafeHtml {
  if (!d.deviceStatus) return html`<span class="muted">not reported</span>`;
  const { valid, active, reasons } = d.deviceStatus;
  const tone = valid === 'invalid' ? 'tone-critical' : active ? 'tone-ok' : 'tone-warning';
  return html`<span class="${tone}">${valid}${active ? ', active' : ', inactive'}</span>${reasons.map((r) => html`<br><span class="muted">${r.code}${r.description ? `: ${r.description}` : ''}</span>`)}`;
}

/**
 * The device page's "Declarative management" section: the device's declarations with what it reported about
 * each, the OS update it must install, and its latest status items. Empty when the ddm plugin is off.
 */
export async function ddmDeviceSection(api: AdminApiClient, encodedId: string): Promise<SafeHtml> {
  const result = await api.get<DdmDeviceView>(`/api/ddm/devices/${encodedId}`);
  if (!result.ok) return html``;
  const v = result.body;
  const update = v.softwareUpdate
    ? html`<p data-ddm-update>OS update: iOS ${v.softwareUpdate.targetOSVersion} by ${v.softwareUpdate.deadline.replace('T', ' ')} — ${v.softwareUpdate.state}</p>`
    : '';
  const synced = v.lastSync
    ? v.lastSync.token === v.declarationsToken
      ? `in sync since ${v.lastSync.at}`
      : `last synced ${v.lastSync.at}; newer declarations are waiting`
    : 'never synced';
  return html`<section aria-labelledby="ddm-h" data-ddm><h2 id="ddm-h">Declarative management</h2>
<p class="muted">${synced}</p>
${update}
<table class="list"><caption class="visually-hidden">Declarations</caption><thead><tr><th scope="col">Declaration</th><th scope="col">Type</th><th scope="col">On the device</th></tr></thead>
<tbody>${v.declarations.map((d) => html`<tr><td>${d.identifier}</td><td>${d.type}</td><td>${declarationState(d)}</td></tr>`)}</tbody></table>
<h3>Last status</h3>
${
  v.status.length === 0
    ? html`<p>Nothing reported yet.</p>`
    : html`<dl class="details">${v.status
        .filter((s) => s.name !== 'management.declarations')
        .map(
          (s) => html`<dt>${s.name}</dt><dd>${short(s.value)} <span class="muted">${s.reportedAt}</span></dd>`,
        )}</dl>`
}
</section>`;
}

function jsonField(name: string, label: string, value: unknown, hint: string): SafeHtml {
  return field({
    name,
    label,
    hint,
    control: ({ id, describedBy }) =>
      html`<textarea id="${id}" name="${name}" data-type="json" rows="8" spellcheck="false" aria-describedby="${describedBy}">${JSON.stringify(value, null, 2)}</textarea>`,
  });
}

function settingsForm(s: DdmSettingsView): SafeHtml {
  const saved =
    s.version === 0
      ? 'Version 0: nothing saved yet.'
      : `Version ${s.version}, saved by ${s.updatedBy ?? 'unknown'} at ${s.updatedAt ?? 'an unknown time'}.`;
  return html`<p class="muted">${saved} Devices whose declarations change are told to sync when you save.</p>
<form id="ddm-settings-form" class="stack" data-api="/api/ddm/settings" data-method="PUT" data-if-match="${s.version}" novalidate>
${formAlert}
${jsonField('osUpdates', 'OS update policies', s.osUpdates, 'A list of { id, targetOSVersion, deadline "yyyy-mm-ddThh:mm:ss", detailsUrl?, assignment: { allDevices, groups, profiles } }; a device gets the first one assigned to it (iOS 17 and later).')}
${jsonField('passcode', 'Passcode settings', s.passcode, 'null for none, or { requirePasscode, minimumLength, maximumFailedAttempts, maximumInactivityInMinutes, assignment }.')}
${jsonField('managementProperties', 'Management properties', s.managementProperties, 'Names and values activation predicates can test.')}
${field({
  name: 'statusSubscriptions',
  label: 'Status items devices report',
  hint: 'One per line, e.g. softwareupdate.install-state.',
  control: ({ id, describedBy }) =>
    html`<textarea id="${id}" name="statusSubscriptions" data-type="lines" rows="6" aria-describedby="${describedBy}">${s.statusSubscriptions.join('\n')}</textarea>`,
})}
<div class="actions"><button type="submit" class="primary">Save declarative management settings</button></div>
</form>`;
}

/** Declarative management (ddm plugin): OS update policies and built-in configurations, versioned. */
export function mountDdmPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(router, ctx, { path: '/ddm', scope: 'policies:read', section: '/admin/ddm' }, async (_koa, { api }) => {
    const settings = await api.get<DdmSettingsView>('/api/ddm/settings');
    if (!settings.ok && settings.status === 404) {
      return { title: 'Declarative management', body: html`<p>The ddm plugin is not enabled.</p>` };
    }
    return {
      title: 'Declarative management',
      body: html`<section aria-labelledby="ddm-settings-h"><h2 id="ddm-settings-h">OS updates and configurations</h2>
${settings.ok ? settingsForm(settings.body) : html`<p class="tone-critical">Could not read the settings: ${settings.problem.detail ?? settings.problem.title ?? `HTTP ${settings.status}`}</p>`}</section>`,
    };
  });
}
