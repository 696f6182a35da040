import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { when } from './devices.js';

interface BulkOperation {
  id: string;
  kind: 'enqueue' | 'cancel';
  requestType: string;
  commandUuid: string;
  target: { kind: string; detail?: Record<string, unknown> };
  actor: { displayName: string };
  total: number;
  createdAt: string;
}
interface BulkProgress extends BulkOperation {
  outcomes: Record<string, number>;
  commands: Record<string, number>;
  finished: boolean;
  devices: { deviceId: string; outcome: string; state?: string }[];
}

const counts = (values: Record<string, number>) =>
  html`${Object.entries(values).map(([name, n]) => html`<span data-count="${name}">${name}: ${n}</span> `)}`;

/** Bulk command operations (read-only): the list, and one operation's progress device by device. */
export function mountBulkPages(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  const options = { scope: 'devices:read', section: '/admin/devices' };
  pageRoute(router, ctx, { ...options, path: '/bulk' }, async (koa, { api }) => {
    const cursor = typeof koa.query.cursor === 'string' ? `&cursor=${encodeURIComponent(koa.query.cursor)}` : '';
    const page = await api.must<{ items: BulkOperation[]; nextCursor: string | null }>(
      `/api/mdm/bulk/commands?limit=50${cursor}`,
    );
    return {
      title: 'Bulk commands',
      body: html`<table class="list"><caption class="visually-hidden">Bulk operations, newest first</caption>
<thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Devices</th><th scope="col">Target</th><th scope="col">Who</th></tr></thead>
<tbody>${page.items.map(
        (op) => html`<tr><td><a href="/admin/bulk/${op.id}">${when(op.createdAt)}</a></td>
<td>${op.kind === 'cancel' ? 'Cancel ' : ''}<code>${op.requestType || op.commandUuid}</code></td><td>${op.total}</td>
<td>${op.target.kind}</td><td>${op.actor.displayName}</td></tr>`,
      )}</tbody></table>
${page.items.length === 0 ? html`<p>No bulk commands yet. Queue one with <code>POST /api/mdm/bulk/commands</code>.</p>` : ''}
${page.nextCursor ? html`<p><a rel="next" href="/admin/bulk?cursor=${page.nextCursor}">Older</a></p>` : ''}`,
    };
  });

  pageRoute(router, ctx, { ...options, path: '/bulk/:id' }, async (koa, { api }) => {
    const op = await api.must<BulkProgress>(`/api/mdm/bulk/commands/${encodeURIComponent(koa.params.id ?? '')}`);
    const answered = Object.entries(op.commands)
      .filter(([state]) => !['queued', 'sent', 'not-now'].includes(state))
      .reduce((sum, [, n]) => sum + n, 0);
    const reached = (op.outcomes.queued ?? 0) + (op.outcomes['already-queued'] ?? 0);
    return {
      title: `Bulk ${op.requestType || 'cancel'}`,
      body: html`<p>${op.kind === 'cancel' ? 'Cancel of' : 'Queued'} <code>${op.requestType}</code> (CommandUUID
<code>${op.commandUuid}</code>) by ${op.actor.displayName}, ${when(op.createdAt)}: ${op.total} devices (${op.target.kind}).</p>
<p><progress max="${Math.max(reached, 1)}" value="${answered}" aria-label="Answered"></progress>
${answered} of ${reached} answered${op.finished ? html` <strong data-finished>finished</strong>` : ''}</p>
<p>Outcomes: ${counts(op.outcomes)}</p><p>Commands: ${counts(op.commands)}</p>
<table class="list"><caption class="visually-hidden">Each device</caption>
<thead><tr><th scope="col">Device</th><th scope="col">Outcome</th><th scope="col">Command</th></tr></thead>
<tbody>${op.devices.map(
        (d) =>
          html`<tr><td><a href="/admin/devices/${d.deviceId}">${d.deviceId}</a></td><td>${d.outcome}</td><td>${d.state ?? '—'}</td></tr>`,
      )}</tbody></table>
<p><a href="/admin/bulk">All bulk commands</a></p>`,
    };
  });
}
