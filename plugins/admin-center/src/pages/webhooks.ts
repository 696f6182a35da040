import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { when } from './devices.js';

interface Endpoint {
  name: string;
  url: string;
  events: string[];
  deadLetters: number;
}

interface DeadLetter {
  id: string;
  endpoint: string;
  type: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string;
  deadAt: string;
}

/** The webhooks plugin's receivers and its dead-letter list (GET /api/webhooks/…), with a replay button each. */
export function mountWebhooksPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/webhooks', scope: 'webhooks:read', section: '/admin/webhooks' },
    async (koa, { api }) => {
      const cursor = typeof koa.query.cursor === 'string' ? `?cursor=${encodeURIComponent(koa.query.cursor)}` : '';
      const [endpoints, dead] = await Promise.all([
        api.must<{ items: Endpoint[] }>('/api/webhooks/endpoints'),
        api.must<{ items: DeadLetter[]; nextCursor: string | null }>(`/api/webhooks/dead-letters${cursor}`),
      ]);
      return {
        title: 'Webhooks',
        body: html`<h2>Receivers</h2>
${endpoints.items.length === 0 ? html`<p>No receivers are configured (plugins.webhooks.endpoints, docs/webhooks.md).</p>` : ''}
<ul>${endpoints.items.map(
          (e) =>
            html`<li><strong>${e.name}</strong> <code>${e.url}</code> — ${e.events.join(', ')}${
              e.deadLetters > 0 ? html` <span class="tone-warning">(${e.deadLetters} undelivered)</span>` : ''
            }</li>`,
        )}</ul>
<h2>Undelivered (dead letters)</h2>
${dead.items.length === 0 ? html`<p>Every delivery went through.</p>` : ''}
<table class="list"><caption class="visually-hidden">Deliveries that used up their attempts</caption>
<thead><tr><th scope="col">Gave up</th><th scope="col">Receiver</th><th scope="col">Event</th><th scope="col">Last answer</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${dead.items.map(
          (d) => html`<tr><td>${when(d.deadAt)}</td><td>${d.endpoint}</td><td><code>${d.type}</code></td>
<td>${d.lastStatus ?? '—'} ${d.lastError} <span class="muted">(${d.attempts} attempts)</span></td>
<td><form data-api="/api/webhooks/dead-letters/${d.id}/replay" data-no-body><button type="submit">Send again</button><span data-form-alert role="alert"></span></form></td></tr>`,
        )}</tbody></table>
${dead.nextCursor ? html`<p><a rel="next" href="/admin/webhooks?cursor=${dead.nextCursor}">Older</a></p>` : ''}`,
      };
    },
  );
}
