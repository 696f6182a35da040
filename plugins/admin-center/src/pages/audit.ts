import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { when } from './devices.js';

interface AuditEntry {
  id: string;
  at: string;
  actor: { id: string; kind: string; displayName: string };
  action: string;
  target: { type: string; id: string };
  before?: unknown;
  after?: unknown;
}

const FILTERS = ['action', 'actorId', 'targetType', 'targetId'] as const;

export function mountAuditPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(router, ctx, { path: '/audit', scope: 'audit:read', section: '/admin/audit' }, async (koa, { api }) => {
    const params = new URLSearchParams();
    for (const name of [...FILTERS, 'cursor']) {
      const value = koa.query[name];
      if (typeof value === 'string' && value) params.set(name, value);
    }
    const log = await api.must<{ items: AuditEntry[]; nextCursor: string | null }>(`/api/admin/audit-log?${params}`);
    const value = (name: string) => params.get(name) ?? '';
    const next = new URLSearchParams(params);
    if (log.nextCursor) next.set('cursor', log.nextCursor);
    return {
      title: 'Audit log',
      body: html`<form method="get" action="/admin/audit" class="filters" role="search" aria-label="Filter the audit log">
  <label>Action <input name="action" value="${value('action')}" placeholder="enrollment-profile."></label>
  <label>Actor id <input name="actorId" value="${value('actorId')}"></label>
  <label>Target type <input name="targetType" value="${value('targetType')}"></label>
  <label>Target id <input name="targetId" value="${value('targetId')}"></label>
  <button type="submit">Apply</button> <a href="/admin/audit">Clear</a></form>
<table class="list"><caption class="visually-hidden">Audit entries, newest first</caption>
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Change</th></tr></thead>
<tbody>${log.items.map(
        (
          entry,
        ) => html`<tr><td>${when(entry.at)}</td><td>${entry.actor.displayName} <span class="muted">(${entry.actor.kind})</span></td>
<td><code>${entry.action}</code></td><td>${entry.target.type} <code>${entry.target.id}</code></td>
<td>${entry.before !== undefined || entry.after !== undefined ? html`<details><summary>Before and after</summary><pre>${JSON.stringify({ before: entry.before, after: entry.after }, null, 2)}</pre></details>` : ''}</td></tr>`,
      )}</tbody></table>
${log.items.length === 0 ? html`<p>No entries match.</p>` : ''}
${log.nextCursor ? html`<p><a rel="next" href="/admin/audit?${next.toString()}">Older entries</a></p>` : ''}`,
    };
  });
}
