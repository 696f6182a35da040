import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';

interface DiscoveryCheck {
  domain: string;
  url: string;
  ok: boolean;
  status?: number;
  problem?: string;
}

interface Discovery {
  document: { Servers: { Version: string; BaseURL: string }[] };
  checks: DiscoveryCheck[];
}

/**
 * The account-enrollment plugin's service discovery (GET /api/account-enrollment/discovery): opening the page asks
 * every configured email domain again whether it serves the document Settings looks for.
 */
export function mountAccountEnrollmentPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/account-enrollment', scope: 'profiles:read', section: '/admin/account-enrollment' },
    async (_koa, { api }) => {
      const discovery = await api.must<Discovery>('/api/account-enrollment/discovery');
      return {
        title: 'Account-driven enrollment',
        body: html`<p>Users sign in to their work account in Settings → VPN &amp; Device Management. Their device looks
for <code>https://&lt;email domain&gt;/.well-known/com.apple.remotemanagement</code>: add a redirect or proxy rule to
this gateway on each domain (docs/account-driven-enrollment.md). This page checks each domain now;
<a href="/admin/account-enrollment">check again</a>.</p>
<h2>Email domains</h2>
${discovery.checks.length === 0 ? html`<p class="tone-warning">No domains are configured (plugins.account-enrollment.domains): discovery refuses every account.</p>` : ''}
<table class="list"><caption class="visually-hidden">Does each domain serve the discovery document?</caption>
<thead><tr><th scope="col">Domain</th><th scope="col">Result</th></tr></thead>
<tbody>${discovery.checks.map(
          (c) => html`<tr data-domain="${c.domain}" data-ok="${String(c.ok)}"><td><code>${c.url}</code></td>
<td>${c.ok ? html`<span class="tone-ok">answers for this gateway</span>` : html`<span class="tone-critical">${c.problem ?? 'not served'}</span>`}</td></tr>`,
        )}</tbody></table>
<h2>The document</h2>
<ul>${discovery.document.Servers.map((s) => html`<li><code>${s.Version}</code>: <code>${s.BaseURL}</code></li>`)}</ul>`,
      };
    },
  );
}
