import { html, type ParsedUserAgent, type Resolution, type SafeHtml } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { hiddenCsrf } from '../deps.js';
import { type PageKit, renderPage, supportCard } from '../layout.js';

/** The Enroll page's extras: an earlier download still waiting, or why the last attempt was refused. */
export interface EnrollExtras {
  pendingStatusPath?: string;
  refusal?: string;
  status?: number;
}

const list = (items: string[]) => html`${items.map((item) => html`<li>${item}</li>`)}`;

export function installSteps(kit: PageKit): SafeHtml {
  const { t, assets } = kit;
  const org = kit.config.organizationName;
  const steps: [string, string?][] = [
    [t('enroll.steps.1'), t('enroll.steps.1.alt')],
    [t('enroll.steps.2', { org })],
    [t('enroll.steps.3')],
    [t('enroll.steps.4')],
  ];
  return html`<section class="card" aria-labelledby="steps-heading"><h2 id="steps-heading">${t('enroll.steps.heading')}</h2>
<p><strong>${t('enroll.steps.deadline')}</strong></p>
<ol class="steps">${steps.map(
    ([text, more], i) => html`<li><div>${text}${more ? html` <span class="muted">${more}</span>` : ''}</div>
<figure><img src="${assets.illustrations[i].path}" width="300" height="190" alt="${t('enroll.steps.figure', { n: i + 1 })}: ${text}"></figure></li>`,
  )}</ol></section>`;
}

/** Web enrollment: what happens, what the organisation sees, the download button and the install steps. */
export function renderEnroll(ctx: Koa.Context, kit: PageKit, parsed: ParsedUserAgent, extras: EnrollExtras = {}) {
  const { t } = kit;
  const org = kit.config.organizationName;
  const device = parsed.platform === 'iPadOS' ? 'iPad' : 'iPhone';
  const refusal = extras.refusal
    ? html`<div class="alert" role="alert"><h2>${t('enroll.refused.heading')}</h2><p>${extras.refusal}</p></div>`
    : '';
  const pending = extras.pendingStatusPath
    ? html`<div class="alert info"><p>${t('enroll.pending')} <a href="${extras.pendingStatusPath}">${t('enroll.pendingLink')}</a></p>
<p class="muted">${t('enroll.pendingNote')}</p></div>`
    : '';
  renderPage(ctx, kit, {
    id: 'enroll',
    status: extras.status,
    title: t('enroll.title'),
    body: html`<h1>${t('enroll.title')}</h1><p class="lead">${t('enroll.lead', { device })}</p>${refusal}${pending}
<section class="card" aria-labelledby="what-heading"><h2 id="what-heading">${t('enroll.what.heading')}</h2>
<ol>${list([t('enroll.what.1', { org }), t('enroll.what.2', { org }), t('enroll.what.3', { org })])}</ol></section>
<section class="card" aria-labelledby="privacy-heading"><h2 id="privacy-heading">${t('enroll.privacy.heading', { org })}</h2>
<div class="cols"><div><h3>${t('enroll.privacy.can', { org })}</h3><ul class="check">${list([
      t('enroll.privacy.can.1'),
      t('enroll.privacy.can.2'),
      t('enroll.privacy.can.3', { org }),
      t('enroll.privacy.can.4'),
    ])}</ul></div>
<div><h3>${t('enroll.privacy.cannot', { org })}</h3><ul class="cross">${list([
      t('enroll.privacy.cannot.1'),
      t('enroll.privacy.cannot.2'),
      t('enroll.privacy.cannot.3'),
      t('enroll.privacy.cannot.4'),
      t('enroll.privacy.cannot.5'),
    ])}</ul></div></div>
<p>${t('enroll.privacy.erase', { org })}</p></section>
<form method="post" action="/enroll/download">${hiddenCsrf(kit)}
<button class="button" type="submit">${extras.pendingStatusPath ? t('enroll.downloadAgain') : t('enroll.download')}</button></form>
${simulateForm(kit)}${installSteps(kit)}
<p><a href="/help">${t('status.help')}</a> · <a href="/help/home-screen">${t('enroll.homeScreen')}</a></p>`,
  });
}

/** `npm run preview` only: the same form, answered by the preview, which enrolls a simulated iPhone with it. */
function simulateForm(kit: PageKit) {
  const path = kit.config.previewSimulatePath;
  if (!path) return '';
  return html`<form method="post" action="${path}" data-preview-simulate>${hiddenCsrf(kit)}
<button class="button secondary" type="submit">${kit.t('enroll.simulate')}</button>
<span class="muted">${kit.t('enroll.simulateNote')}</span></form>`;
}

/** iOS 14.x and older, or an app-based profile: the Company Portal app. */
export function renderFallback(ctx: Koa.Context, kit: PageKit, parsed: ParsedUserAgent) {
  const { t } = kit;
  const major = Number(parsed.osVersion?.split('.')[0]);
  const reason =
    Number.isFinite(major) && major < 15
      ? t('fallback.oldOs', { version: parsed.osVersion ?? '' })
      : t('fallback.appBased', { org: kit.config.organizationName });
  renderPage(ctx, kit, {
    id: 'company-portal-app',
    title: t('fallback.title'),
    body: html`<h1>${t('fallback.title')}</h1><p class="lead">${reason}</p>
<section class="card"><ol class="steps">${list([t('fallback.steps.1'), t('fallback.steps.2'), t('fallback.steps.3')])}</ol>
<a class="button" href="${kit.config.companyPortalAppUrl}">${t('fallback.button')}</a></section>`,
  });
}

export function renderUnsupported(ctx: Koa.Context, kit: PageKit, parsed: ParsedUserAgent) {
  const { t } = kit;
  const mac = parsed.platform === 'macOS';
  renderPage(ctx, kit, {
    id: 'unsupported',
    title: t('unsupported.title'),
    // A Mac User-Agent may be an iPad asking for desktop sites: the script checks for a touch screen.
    recheck: mac ? 'touch' : undefined,
    body: html`<h1>${t('unsupported.title')}</h1>
<p class="lead">${parsed.platform === 'android' ? t('unsupported.android') : t('unsupported.desktop')}</p>
${mac ? html`<p class="alert info">${t('unsupported.ipad')}</p>` : ''}${supportCard(kit)}`,
  });
}

export function renderDeviceLimit(ctx: Koa.Context, kit: PageKit, resolution: Resolution) {
  const { t } = kit;
  const limit = resolution.deviceLimit;
  renderPage(ctx, kit, {
    id: 'device-limit',
    title: t('limit.title'),
    body: html`<h1>${t('limit.title')}</h1><p class="lead">${t('limit.body')}</p>
${limit ? html`<p>${t('limit.count', { active: limit.active, limit: limit.limit })}</p>` : ''}
<a class="button" href="/devices">${t('limit.action')}</a>${supportCard(kit)}`,
  });
}

/** An account-driven profile: enrollment happens in Settings, not in Safari. */
export function renderAccountDriven(ctx: Koa.Context, kit: PageKit) {
  const { t } = kit;
  renderPage(ctx, kit, {
    id: 'account-driven',
    title: t('accountDriven.title'),
    body: html`<h1>${t('accountDriven.title')}</h1><p class="lead">${t('accountDriven.body', { org: kit.config.organizationName })}</p>${supportCard(kit)}`,
  });
}

export function renderNoProfile(ctx: Koa.Context, kit: PageKit) {
  const { t } = kit;
  renderPage(ctx, kit, {
    id: 'no-profile',
    title: t('noProfile.title'),
    body: html`<h1>${t('noProfile.title')}</h1><p class="lead">${t('noProfile.body')}</p>${supportCard(kit)}`,
  });
}

export function renderSetupIncomplete(ctx: Koa.Context, kit: PageKit, status = 200) {
  const { t } = kit;
  renderPage(ctx, kit, {
    id: 'setup-incomplete',
    status,
    title: t('setup.title'),
    body: html`<h1>${t('setup.title')}</h1><p class="lead">${t('setup.body')}</p>${supportCard(kit)}`,
  });
}

export function renderSignIn(ctx: Koa.Context, kit: PageKit, signInUrl: string) {
  const { t } = kit;
  renderPage(ctx, kit, {
    id: 'signin',
    title: t('signin.title'),
    body: html`<h1>${t('app.title', { org: kit.config.organizationName })}</h1><p class="lead">${t('signin.lead')}</p>
<a class="button" href="${signInUrl}">${t('signin.button')}</a><p class="muted">${t('signin.privacy')}</p>`,
  });
}
