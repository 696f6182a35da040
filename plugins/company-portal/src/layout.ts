import { html, type SafeHtml, type SignedInUser, strictPageCsp } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { PortalAssets } from './assets.js';
import type { PortalSettings } from './config.js';
import type { Translate } from './strings.js';

/** What every page needs: config, text, assets, and (when signed in) the user and the session's CSRF token. */
export interface PageKit {
  config: PortalSettings;
  t: Translate;
  assets: PortalAssets;
  user?: SignedInUser;
  csrf?: string;
}

export interface PageOptions {
  /** data-page on <body>: tests and styles find the page by it. */
  id: string;
  title: string;
  body: SafeHtml;
  status?: number;
  /** Extra <head> content, e.g. the meta refresh that starts a download. */
  head?: SafeHtml;
  /** Set on <body> when the client script should re-check the device (iPad in desktop mode). */
  recheck?: 'touch';
}

export function contentSecurityPolicy(config: PortalSettings): string {
  const logo = config.logoUrl?.startsWith('https://') ? new URL(config.logoUrl).origin : undefined;
  return strictPageCsp({ imageSources: logo ? [logo] : [] });
}

function supportLines(kit: PageKit): SafeHtml {
  const { config, t } = kit;
  const items = [
    config.supportEmail &&
      html`<p>${t('support.email')}: <a href="mailto:${config.supportEmail}">${config.supportEmail}</a></p>`,
    config.supportPhone &&
      html`<p>${t('support.phone')}: <a href="tel:${config.supportPhone.replace(/[^\d+]/g, '')}">${config.supportPhone}</a></p>`,
    config.supportUrl && html`<p>${t('support.web')}: <a href="${config.supportUrl}">${config.supportUrl}</a></p>`,
  ].filter(Boolean);
  return items.length > 0 ? html`${items}` : html`<p>${t('support.none')}</p>`;
}

/** The support contact from config, as a card (no-profile, limit, troubleshooting pages). */
export function supportCard(kit: PageKit): SafeHtml {
  return html`<section class="card" aria-labelledby="support-heading">
<h2 id="support-heading">${kit.t('support.heading', { name: kit.config.supportName })}</h2>${supportLines(kit)}</section>`;
}

function header(kit: PageKit): SafeHtml {
  const { config, t, user, csrf } = kit;
  const logo = config.logoUrl
    ? html`<img src="${config.logoUrl}" alt="${t('logo.alt', { org: config.organizationName })}">`
    : '';
  const links = user
    ? html`<li><a href="/">${t('nav.home')}</a></li><li><a href="/devices">${t('nav.devices')}</a></li>
<li><a href="/help">${t('nav.help')}</a></li>
<li><form method="post" action="/auth/signout"><input type="hidden" name="csrf" value="${csrf ?? ''}">
<button class="linkish" type="submit">${t('nav.signOut')}</button></form></li>`
    : html`<li><a href="/help">${t('nav.help')}</a></li>`;
  return html`<header class="bar"><a class="brand" href="/">${logo}<span>${config.organizationName}</span></a>
<nav aria-label="${t('nav.main')}"><ul>${links}</ul></nav></header>`;
}

/** Renders a whole page: strict CSP, no caching of personal pages, one stylesheet and one deferred script. */
export function renderPage(ctx: Koa.Context, kit: PageKit, page: PageOptions): void {
  const { config, t, assets } = kit;
  const appTitle = t('app.title', { org: config.organizationName });
  ctx.status = page.status ?? 200;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Content-Security-Policy', contentSecurityPolicy(config));
  ctx.set('Cache-Control', 'no-store');
  ctx.body = html`<!doctype html>
<html lang="${config.locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<title>${page.title} · ${appTitle}</title>
<meta name="theme-color" content="${assets.brand}">
<meta name="apple-mobile-web-app-title" content="Company Portal">
<link rel="stylesheet" href="${assets.css.path}">
<link rel="icon" href="${assets.icon.path}">
<link rel="apple-touch-icon" href="${assets.icon.path}">
<script src="${assets.js.path}" defer></script>${page.head ?? ''}</head>
<body data-page="${page.id}"${page.recheck ? html` data-recheck="${page.recheck}"` : ''}>
<a class="skip" href="#main">${t('nav.skip')}</a>
${header(kit)}
<main id="main" tabindex="-1">${page.body}</main>
<footer><p>${appTitle}</p><p>${config.supportName}${config.supportEmail ? html` · <a href="mailto:${config.supportEmail}">${config.supportEmail}</a>` : ''}</p></footer>
</body></html>`.value;
}

/** A short page with a heading, a message and a way back (errors, refusals). */
export function renderMessage(
  ctx: Koa.Context,
  kit: PageKit,
  options: { id: string; status: number; title: string; message: string; extra?: SafeHtml },
): void {
  renderPage(ctx, kit, {
    id: options.id,
    status: options.status,
    title: options.title,
    body: html`<h1>${options.title}</h1><p class="lead">${options.message}</p>${options.extra ?? ''}
<p><a href="/">${kit.t('error.home')}</a></p>`,
  });
}
