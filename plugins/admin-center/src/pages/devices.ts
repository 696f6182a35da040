import { type DeviceRecord, html, type PluginContext, type PluginRouter, type SafeHtml } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';

export interface StatusItem {
  label: string;
  value: string;
  tone: string;
  action?: string;
  source: string;
}
export type DeviceRow = DeviceRecord & { statusItems: StatusItem[] };

/** The model code beside the name the user gave the device ("iPhone15,4"); the name stays what the row is called. */
const modelOf = (device: DeviceRow): string | undefined => device.productName ?? device.model;

const FILTERS = ['q', 'userId', 'state', 'osVersion', 'lastCheckInBefore', 'lastCheckInAfter', 'sort'] as const;
const STATES = ['pending', 'enrolled', 'checked-out', 'retiring', 'retired'];
const SORTS: Record<string, string> = {
  enrolled: 'Oldest first',
  '-enrolled': 'Newest first',
  '-lastCheckIn': 'Last check-in, recent first',
  lastCheckIn: 'Last check-in, oldest first',
};

export const when = (value: string | Date | undefined | null) =>
  value ? new Date(value).toISOString().replace('T', ' ').slice(0, 16) : '—';

export function statusItems(items: readonly StatusItem[]): SafeHtml {
  return html`${items.map(
    (item) => html`<span class="tone-${item.tone}" title="${item.action ?? ''}">${item.label}: ${item.value}</span> `,
  )}`;
}

function queryString(koa: Koa.Context): URLSearchParams {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = koa.query[name];
    if (typeof value !== 'string' || value === '') continue;
    // Date inputs give a day; the API wants an instant.
    params.set(name, name.startsWith('lastCheckIn') ? `${value}T00:00:00Z` : value);
  }
  return params;
}

/** The devices list: search, filters, sort and "next page", all as a plain GET form. */
export function mountDevicesPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/devices', scope: 'devices:read', section: '/admin/devices' },
    async (koa, { api }) => {
      const params = queryString(koa);
      if (typeof koa.query.cursor === 'string') params.set('cursor', koa.query.cursor);
      const result = await api.get<{ items: DeviceRow[]; nextCursor: string | null }>(`/api/mdm/devices?${params}`);
      const value = (name: string) => (typeof koa.query[name] === 'string' ? String(koa.query[name]) : '');
      const next = new URLSearchParams(koa.querystring);
      if (result.ok && result.body.nextCursor) next.set('cursor', result.body.nextCursor);
      return {
        title: 'Devices',
        body: html`<form method="get" action="/admin/devices" class="filters" role="search" aria-label="Filter devices">
  <label>Search <input name="q" value="${value('q')}" placeholder="name, serial, UDID, user"></label>
  <label>User id <input name="userId" value="${value('userId')}"></label>
  <label>State <select name="state"><option value="">Any</option>${STATES.map(
    (state) => html`<option${value('state') === state ? html` selected` : ''}>${state}</option>`,
  )}</select></label>
  <label>OS version <input name="osVersion" value="${value('osVersion')}" placeholder="17 or 17.5" pattern="[0-9.]+"></label>
  <label>Checked in after <input type="date" name="lastCheckInAfter" value="${value('lastCheckInAfter')}"></label>
  <label>Checked in before <input type="date" name="lastCheckInBefore" value="${value('lastCheckInBefore')}"></label>
  <label>Sort <select name="sort">${Object.entries(SORTS).map(
    ([key, label]) => html`<option value="${key}"${value('sort') === key ? html` selected` : ''}>${label}</option>`,
  )}</select></label>
  <button type="submit">Apply</button> <a href="/admin/devices">Clear</a>
</form>
${
  result.ok
    ? html`<table class="list"><caption class="visually-hidden">Devices</caption>
<thead><tr><th scope="col">Device</th><th scope="col">User</th><th scope="col">State</th><th scope="col">OS</th><th scope="col">Last check-in</th><th scope="col">Status</th></tr></thead>
<tbody>${result.body.items.map(
        (device) => html`<tr>
  <td><a href="/admin/devices/${device.id}">${device.deviceName ?? 'Unnamed device'}</a>${modelOf(device) ? html` <span class="muted" data-model>${modelOf(device)}</span>` : ''}<br><span class="muted">${device.serialNumber ?? device.udid}</span></td>
  <td>${device.userId ? html`<a href="/admin/users/${encodeURIComponent(device.userId)}">${device.userId}</a>` : '—'}</td>
  <td>${device.state}</td><td>${device.osVersion ?? '—'}</td><td>${when(device.lastSeenAt)}</td>
  <td>${statusItems(device.statusItems)}</td></tr>`,
      )}</tbody></table>
${result.body.items.length === 0 ? html`<p>No devices match.</p>` : ''}
${result.body.nextCursor ? html`<p><a href="/admin/devices?${next.toString()}" rel="next">Next page</a></p>` : ''}`
    : html`<div class="form-alert" role="alert">${result.problem.detail ?? result.problem.title ?? `HTTP ${result.status}`}</div>`
}`,
      };
    },
  );
}
