import { html } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { type PageKit, renderPage, supportCard } from '../layout.js';
import type { StringKey } from '../strings.js';

const TOPICS = ['timeout', 'one', 'other', 'safari'] as const;

/** The signed-in user's latest enrollment attempt, in plain words (from enrollment-insights, when enabled). */
export interface LastAttemptView {
  startedAt: Date;
  /** Why it stopped, for the device user; absent when it completed or is still going. */
  explanation?: string;
  completed: boolean;
}

function lastAttemptCard(kit: PageKit, last: LastAttemptView) {
  const { t } = kit;
  const text = last.explanation ?? (last.completed ? t('help.last.completed') : t('help.last.inProgress'));
  const when = last.startedAt.toISOString().replace('T', ' ').slice(0, 16);
  return html`<section class="card" id="last-attempt" aria-labelledby="last-attempt-heading"${
    last.explanation ? html` data-outcome="failed"` : ''
  }>
<h2 id="last-attempt-heading">${t('help.last.title')}</h2><p>${text}</p><p class="muted">${t('help.last.when', {
    when: `${when} UTC`,
  })}</p></section>`;
}

/** Troubleshooting: the user's last attempt, the four ways web enrollment usually goes wrong, and the support contact. */
export function renderTroubleshooting(ctx: Koa.Context, kit: PageKit, last?: LastAttemptView): void {
  const { t } = kit;
  renderPage(ctx, kit, {
    id: 'help',
    title: t('help.title'),
    body: html`<h1>${t('help.title')}</h1>${last ? lastAttemptCard(kit, last) : ''}${TOPICS.map(
      (topic) => html`<section class="card" id="${topic}" aria-labelledby="${topic}-heading">
<h2 id="${topic}-heading">${t(`help.${topic}.title` as StringKey)}</h2><p>${t(`help.${topic}.body` as StringKey)}</p></section>`,
    )}<p><a href="/help/home-screen">${t('enroll.homeScreen')}</a></p>${supportCard(kit)}
<p><a href="/">${t('help.back')}</a></p>`,
  });
}

/** "Add to Home Screen" for devices not enrolled yet (enrolled ones get the web clip). */
export function renderHomeScreen(ctx: Koa.Context, kit: PageKit): void {
  const { t } = kit;
  renderPage(ctx, kit, {
    id: 'home-screen',
    title: t('homeScreen.title'),
    body: html`<h1>${t('homeScreen.title')}</h1><p class="lead">${t('homeScreen.lead')}</p>
<section class="card"><ol class="steps">${[
      t('homeScreen.steps.1'),
      t('homeScreen.steps.2'),
      t('homeScreen.steps.3'),
    ].map((step) => html`<li><div>${step}</div></li>`)}</ol>
<p><img src="${kit.assets.icon.path}" width="60" height="60" alt="">
<span class="muted">${t('homeScreen.note', { org: kit.config.organizationName })}</span></p></section>
<p><a href="/">${t('help.back')}</a></p>`,
  });
}
