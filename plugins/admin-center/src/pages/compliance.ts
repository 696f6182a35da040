import { html, type PluginContext, type PluginRouter, type SafeHtml } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { checkboxField, field, formAlert } from './fields.js';

interface CompliancePolicyView {
  minimumIosVersion: string | null;
  minimumIpadosVersion: string | null;
  blockEnrollmentWhenNonCompliant: boolean;
  version: number;
  updatedBy: string | null;
  updatedAt: string | null;
}

interface Evaluation {
  deviceId: string;
  platform?: string;
  osVersion?: string;
  minimum?: string;
  action?: string;
}

function versionField(name: 'minimumIosVersion' | 'minimumIpadosVersion', label: string, value: string | null) {
  return field({
    name,
    label,
    hint: 'A version such as 17 or 17.5; leave it empty for no minimum.',
    control: ({ id, describedBy }) =>
      html`<input id="${id}" name="${name}" value="${value ?? ''}" data-type="nullable" inputmode="decimal" pattern="[0-9]+(\\.[0-9]+){0,2}" autocomplete="off" aria-describedby="${describedBy}">`,
  });
}

function policyForm(policy: CompliancePolicyView): SafeHtml {
  const saved =
    policy.version === 0
      ? 'Version 0: the defaults from the configuration, nobody has saved changes yet.'
      : `Version ${policy.version}, saved by ${policy.updatedBy ?? 'unknown'} at ${policy.updatedAt ?? 'an unknown time'}.`;
  return html`<p class="muted">${saved} The policy applies to every device at once.</p>
<form id="compliance-policy-form" class="stack" data-api="/api/compliance/policy" data-method="PUT" novalidate>
${formAlert}
${versionField('minimumIosVersion', 'Minimum iOS version', policy.minimumIosVersion)}
${versionField('minimumIpadosVersion', 'Minimum iPadOS version', policy.minimumIpadosVersion)}
${checkboxField({
  name: 'blockEnrollmentWhenNonCompliant',
  label: 'Refuse to enroll devices below the minimum',
  hint: 'Otherwise they enroll and are listed below until they update.',
  checked: policy.blockEnrollmentWhenNonCompliant,
})}
<div class="actions"><button type="submit" class="primary">Save compliance policy</button></div>
</form>`;
}

/** Compliance (compliance plugin): the minimum OS version form and the devices below it. */
export function mountCompliancePage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/compliance', scope: 'devices:read', section: '/admin/compliance' },
    async (_koa, { api }) => {
      const [policy, devices] = await Promise.all([
        api.get<CompliancePolicyView>('/api/compliance/policy'),
        api.get<{ items: Evaluation[] }>('/api/compliance/devices?limit=200'),
      ]);
      if (!policy.ok && policy.status === 404) {
        return { title: 'Compliance', body: html`<p>The compliance plugin is not enabled.</p>` };
      }
      return {
        title: 'Compliance',
        body: html`<section aria-labelledby="policy-h"><h2 id="policy-h">Minimum OS version</h2>
${policy.ok ? policyForm(policy.body) : html`<p class="tone-critical">Could not read the policy: ${policy.problem.detail ?? policy.problem.title ?? `HTTP ${policy.status}`}</p>`}</section>
<section aria-labelledby="devices-h"><h2 id="devices-h">Devices below the minimum</h2>
${
  !devices.ok
    ? html`<p class="tone-critical">Could not list them: ${devices.problem.detail ?? devices.problem.title ?? `HTTP ${devices.status}`}</p>`
    : devices.body.items.length === 0
      ? html`<p data-empty="compliant">No device is below the minimum.</p>`
      : html`<table class="list"><caption class="visually-hidden">Devices below the minimum</caption><thead><tr><th scope="col">Device</th><th scope="col">Platform</th><th scope="col">OS version</th><th scope="col">Minimum</th><th scope="col">What the user should do</th></tr></thead>
<tbody>${devices.body.items.map(
          (d) =>
            html`<tr><td><a href="/admin/devices/${encodeURIComponent(d.deviceId)}">${d.deviceId}</a></td><td>${d.platform ?? ''}</td><td>${d.osVersion ?? 'not reported'}</td><td>${d.minimum ?? ''}</td><td>${d.action ?? ''}</td></tr>`,
        )}</tbody></table>`
}</section>`,
      };
    },
  );
}
