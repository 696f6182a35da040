import { html, type PluginContext, type PluginRouter, type SafeHtml } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { AdminApiClient } from '../api-client.js';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';

interface Count {
  key: string;
  count: number;
}
interface DeviceSummary {
  total: number;
  byState: Count[];
  byOsVersion: Count[];
  certificateExpiry: Count[];
}
interface Funnel {
  from: string;
  to: string;
  steps: { step: string; count: number; conversion: number | null }[];
  days: { day: string; attempts: number; enrolled: number; ready: number; failed: number }[];
  failures: { reason: string; label: string; count: number; remediation: string }[];
}
interface Failure {
  at: string;
  reason: string;
  label: string;
  remediation: string;
  step: string;
  vetoedBy?: string;
  userName?: string;
  userId?: string;
  profileId?: string;
  osVersion?: string;
}
interface PushCertificate {
  installed: boolean;
  daysLeft?: number;
  notAfter?: string;
  health?: { problems: { level: string; message: string }[] };
}

/** Neutral step names: the funnel counts attempts that passed a step, the failures name the step that stopped one. */
const STEP_LABELS: Record<string, string> = {
  'signed-in': 'Portal sign-in',
  'os-checked': 'OS check',
  'profile-resolved': 'Profile assignment',
  'session-created': 'Download link',
  'profile-downloaded': 'Profile download',
  'identity-issued': 'Identity (SCEP or ACME)',
  authenticated: 'Authenticate',
  'token-updated': 'TokenUpdate (enrolled)',
  'authenticator-installed': 'Authenticator install',
  ready: 'Ready for work',
};
const FILTERS = ['from', 'to', 'profileId', 'groupId', 'reason', 'user', 'osVersion'] as const;

function countTable(caption: string, rows: readonly Count[], keyLabel: string): SafeHtml {
  return html`<table class="list compact"><caption>${caption}</caption><thead><tr><th scope="col">${keyLabel}</th><th scope="col" class="num">Devices</th></tr></thead>
<tbody>${rows.length ? rows.map((r) => html`<tr><td>${r.key}</td><td class="num">${r.count}</td></tr>`) : html`<tr><td colspan="2" class="muted">None yet</td></tr>`}</tbody></table>`;
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

function filtersOf(koa: Koa.Context): Record<(typeof FILTERS)[number], string | undefined> {
  const pick = (name: string) => {
    const value = koa.query[name];
    return typeof value === 'string' && value.trim() ? value.trim() : undefined;
  };
  return Object.fromEntries(FILTERS.map((name) => [name, pick(name)])) as Record<
    (typeof FILTERS)[number],
    string | undefined
  >;
}

function pushCard(push: PushCertificate | undefined): SafeHtml {
  if (!push) return html`<p class="muted">The push plugin is not enabled.</p>`;
  if (!push.installed) return html`<p class="tone-critical">No push certificate is installed.</p>`;
  const problems = push.health?.problems ?? [];
  return html`<p class="${problems.length ? 'tone-warning' : 'tone-ok'}">${problems.length ? '! ' : '✓ '}${
    problems.length ? `${problems.length} problem(s)` : 'Healthy'
  }</p><p>Push certificate expires ${push.notAfter?.slice(0, 10) ?? '?'} (${push.daysLeft ?? '?'} days left).</p>
${problems.length ? html`<ul>${problems.map((p) => html`<li class="tone-${p.level === 'critical' ? 'critical' : 'warning'}">${p.message}</li>`)}</ul>` : ''}`;
}

function funnelSection(funnel: Funnel, filters: ReturnType<typeof filtersOf>): SafeHtml {
  const rows = funnel.steps.map((s) => ({ ...s, label: STEP_LABELS[s.step] ?? s.step }));
  const data = JSON.stringify({ funnel: rows, days: funnel.days });
  return html`<section aria-labelledby="funnel-heading"><h2 id="funnel-heading">Enrollment funnel, ${funnel.from} to ${funnel.to}</h2>
<div class="chart-pair"><div class="chart"><canvas id="funnel-chart" role="img" aria-label="Bar chart: attempts that reached each enrollment step; the table lists the same numbers"></canvas></div>
<table class="list compact" id="funnel-table"><caption>Attempts per step</caption><thead><tr><th scope="col">Step</th><th scope="col" class="num">Attempts</th><th scope="col" class="num">From the step before</th></tr></thead>
<tbody>${rows.map((s) => html`<tr data-step="${s.step}"><td>${s.label}</td><td class="num">${s.count}</td><td class="num">${s.conversion === null ? '—' : `${Math.round(s.conversion * 100)}%`}</td></tr>`)}</tbody></table></div>
<h2 id="series-heading">Per day</h2>
<div class="chart wide"><canvas id="series-chart" role="img" aria-label="Line chart: attempts (solid, circles), enrolled (dashed, squares) and failed (dotted, triangles) per day"></canvas></div>
<details><summary>The numbers per day</summary><table class="list compact"><thead><tr><th scope="col">Day</th><th scope="col" class="num">Attempts</th><th scope="col" class="num">Enrolled</th><th scope="col" class="num">Ready</th><th scope="col" class="num">Failed</th></tr></thead>
<tbody>${funnel.days.map((d) => html`<tr><td>${d.day}</td><td class="num">${d.attempts}</td><td class="num">${d.enrolled}</td><td class="num">${d.ready}</td><td class="num">${d.failed}</td></tr>`)}</tbody></table></details>
<div id="insights-data" data-json="${data}" hidden></div>
<p class="muted">Filters: ${filters.profileId ? `profile ${filters.profileId}` : 'every profile'}, ${filters.groupId ? `group ${filters.groupId}` : 'every group'}.</p></section>`;
}

async function failuresSection(
  api: AdminApiClient,
  funnel: Funnel,
  filters: ReturnType<typeof filtersOf>,
): Promise<SafeHtml> {
  const q = query({ ...filters, limit: '50' });
  const page = await api.get<{ items: Failure[] }>(`/api/enrollment-insights/failures${q}`);
  const items = page.ok ? page.body.items : [];
  const reasons = funnel.failures;
  const csv = `/api/enrollment-insights/failures.csv${query(filters)}`;
  return html`<section aria-labelledby="failures-heading"><h2 id="failures-heading">Failures</h2>
<table class="list compact"><caption>Failed attempts by reason, with what to do</caption><thead><tr><th scope="col">Reason</th><th scope="col" class="num">Attempts</th><th scope="col">What to do</th></tr></thead>
<tbody>${reasons.map((r) => html`<tr data-reason="${r.reason}"><td>${r.label}</td><td class="num">${r.count}</td><td>${r.remediation}</td></tr>`)}</tbody></table>
<form method="get" action="/admin/home" class="filters" aria-label="Filter failures">
${(['from', 'to', 'profileId', 'groupId'] as const).map((name) => (filters[name] ? html`<input type="hidden" name="${name}" value="${filters[name]}">` : ''))}
<label>Reason<select name="reason"><option value="">Any</option>${reasons.map((r) => html`<option value="${r.reason}"${filters.reason === r.reason ? html` selected` : ''}>${r.label}</option>`)}</select></label>
<label>User<input name="user" value="${filters.user ?? ''}"></label>
<label>OS version<input name="osVersion" value="${filters.osVersion ?? ''}" placeholder="17" inputmode="decimal"></label>
<button type="submit">Filter</button> <a class="button" href="${csv}" download>Export CSV</a></form>
<table class="list" id="failures-table"><caption>Latest failed attempts</caption><thead><tr><th scope="col">When (UTC)</th><th scope="col">User</th><th scope="col">Reason</th><th scope="col">Stopped at</th><th scope="col">OS</th><th scope="col">What to do</th></tr></thead>
<tbody>${items.length ? items.map((f) => html`<tr data-reason="${f.reason}"><td>${f.at.slice(0, 16).replace('T', ' ')}</td><td>${f.userName ?? f.userId ?? '—'}</td><td>${f.label}${f.vetoedBy ? ` (${f.vetoedBy})` : ''}</td><td>${STEP_LABELS[f.step] ?? f.step}</td><td>${f.osVersion ?? '—'}</td><td>${f.remediation}</td></tr>`) : html`<tr><td colspan="6" class="muted">No failed attempts match.</td></tr>`}</tbody></table></section>`;
}

async function overview(api: AdminApiClient, filters: ReturnType<typeof filtersOf>) {
  const [devices, push, funnel] = await Promise.all([
    api.get<DeviceSummary>('/api/mdm/device-summary'),
    api.get<PushCertificate>('/api/apns/certificate'),
    api.get<Funnel>(
      `/api/enrollment-insights/funnel${query({ from: filters.from, to: filters.to, profileId: filters.profileId, groupId: filters.groupId })}`,
    ),
  ]);
  return {
    devices: devices.ok ? devices.body : undefined,
    push: push.ok ? push.body : undefined,
    funnel: funnel.ok ? funnel.body : undefined,
    funnelProblem: funnel.ok ? undefined : funnel.problem.detail,
  };
}

/**
 * The admin center's home: until setup is complete, a link to the checklist above everything; then an overview (devices by state and OS,
 * push health, certificate expiry), the enrollment funnel and daily series (Chart.js, with tables), and the
 * failures with their remediation, filterable and exportable as CSV.
 */
export function mountHomePage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(router, ctx, { path: '/home', scope: 'devices:read', section: '/admin/home' }, async (koa, { api }) => {
    const checklist = await api.get<{ complete: boolean }>('/api/setup/checklist');
    const setupBanner =
      checklist.ok && !checklist.body.complete
        ? html`<p class="tone-warning" id="setup-banner">Enrollment is blocked until setup is complete: <a href="/admin/setup">open the setup checklist</a>.</p>`
        : '';
    const filters = filtersOf(koa);
    const { devices, push, funnel, funnelProblem } = await overview(api, filters);
    const today = new Date().toISOString().slice(0, 10);
    return {
      title: 'Overview',
      scripts: funnel ? ['chart.umd.js', 'home.js'] : [],
      body: html`${setupBanner}<form method="get" action="/admin/home" class="filters" aria-label="Report filters">
<label>From<input type="date" name="from" value="${filters.from ?? ''}" max="${today}"></label>
<label>To<input type="date" name="to" value="${filters.to ?? ''}" max="${today}"></label>
<label>Profile id<input name="profileId" value="${filters.profileId ?? ''}"></label>
<label>Group id<input name="groupId" value="${filters.groupId ?? ''}"></label>
<button type="submit">Apply</button></form>
<div class="cards">
<section class="card" aria-labelledby="devices-heading"><h2 id="devices-heading">Devices${devices ? ` (${devices.total})` : ''}</h2>${devices ? countTable('By state', devices.byState, 'State') : html`<p class="muted">Device counts are not available.</p>`}</section>
<section class="card" aria-labelledby="os-heading"><h2 id="os-heading">OS versions</h2>${devices ? countTable('By OS version', devices.byOsVersion, 'Version') : ''}</section>
<section class="card" aria-labelledby="push-heading"><h2 id="push-heading">Push health</h2>${pushCard(push)}</section>
<section class="card" aria-labelledby="expiry-heading"><h2 id="expiry-heading">Device certificates expire</h2>${devices ? countTable('Enrolled devices by the month their identity expires', devices.certificateExpiry, 'Month') : ''}</section>
</div>
${funnel ? funnelSection(funnel, filters) : html`<p class="muted">The enrollment funnel is not available${funnelProblem ? `: ${funnelProblem}` : ' (enable the enrollment-insights plugin)'}.</p>`}
${funnel ? await failuresSection(api, funnel, filters) : ''}`,
    };
  });
}
