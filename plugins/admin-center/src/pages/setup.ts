import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';

interface Checklist {
  complete: boolean;
  needsAttention?: boolean;
  items: { item: string; ok: boolean; problem?: string; warnings?: string[]; link: string }[];
}

/** Each checklist item's name and the admin page that fixes it; the others are fixed in config (the API's link says where). */
const ITEMS: Record<string, { label: string; fix: string; fixLabel: string }> = {
  ca: { label: 'Certificate authority', fix: '', fixLabel: '' },
  'signing-certificate': { label: 'Profile signing certificate', fix: '', fixLabel: '' },
  'push-certificate': {
    label: 'Apple push certificate',
    fix: '/admin/push-certificate',
    fixLabel: 'Set up the push certificate',
  },
  'identity-provider': { label: 'Identity provider', fix: '', fixLabel: '' },
  'enrollment-profile': {
    label: 'At least one enrollment profile',
    fix: '/admin/profiles/new',
    fixLabel: 'Create an enrollment profile',
  },
};

export function mountSetupPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(router, ctx, { path: '/setup', scope: 'profiles:read', section: '/admin/setup' }, async (_koa, { api }) => {
    const checklist = await api.must<Checklist>('/api/setup/checklist');
    return {
      title: 'Setup checklist',
      body: html`<p class="${checklist.complete && !checklist.needsAttention ? 'tone-ok' : 'tone-warning'}">${
        !checklist.complete
          ? 'Enrollment is blocked until every item is done.'
          : checklist.needsAttention
            ? 'Users can enroll, but something needs your attention (below).'
            : 'Setup is complete: users can enroll.'
      }</p>
<ul class="checklist">${checklist.items.map((item) => {
        const known = ITEMS[item.item] ?? { label: item.item, fix: '', fixLabel: item.link };
        const warnings = item.warnings ?? [];
        const good = item.ok && warnings.length === 0;
        return html`<li class="${good ? 'ok' : 'todo'}">
  <span class="mark" aria-hidden="true">${good ? '✓' : '!'}</span>
  <strong>${known.label}</strong>: ${item.ok ? (good ? 'done' : 'done, but') : html`<span>${item.problem ?? 'missing'}</span>`}
  ${warnings.length > 0 ? html`<ul class="warnings">${warnings.map((w) => html`<li class="tone-warning">${w}</li>`)}</ul>` : ''}
  ${good ? '' : known.fix ? html` — <a href="${known.fix}">${known.fixLabel}</a>` : html` — ${item.link}`}
</li>`;
      })}</ul>`,
    };
  });
}
