import {
  type AdminSignInMethod,
  adminSignInMethodsPoint,
  browserSessionsRef,
  html,
  type PluginContext,
  type PluginRouter,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { AdminCenterConfig } from '../config.js';
import { PAGE_CSP } from '../layout.js';

export const SIGN_IN_PATH = '/admin/sign-in';

/** Passkeys and the like (contributed), then the identity provider's sign-in when an identity plugin runs. */
export function signInMethods(ctx: PluginContext<AdminCenterConfig>): AdminSignInMethod[] {
  const methods = ctx.extensions(adminSignInMethodsPoint).map((c) => c.value);
  const sessions = ctx.tryResolve(browserSessionsRef);
  if (sessions) {
    methods.push({
      id: 'identity',
      label: 'Sign in with your organization account',
      path: (returnTo) => sessions.signInPath(returnTo),
    });
  }
  return methods;
}

/** Only paths of the admin center come back here; anything else returns to its start. */
function returnPath(value: unknown): string {
  return typeof value === 'string' && /^\/admin(\/[^\\]*)?$/.test(value) && !value.startsWith('/admin//')
    ? value
    : '/admin';
}

const NO_METHOD = html`<p>No way to sign in to the admin center is set up yet. Either:</p>
<ul>
<li>enable the <code>admin-passkeys</code> plugin and run <code>gateway admin invite you@example.com</code>: it prints a
one-time link where you create a passkey (docs/admin-passkeys.md);</li>
<li>or turn on sign-in with Microsoft Entra ID or another OpenID Connect provider (docs/identity-entra.md,
docs/identity-oidc.md);</li>
<li>or, for automation, create an API key with <code>gateway admin create-api-key</code> and send it as
<code>Authorization: Bearer gwk_…</code>.</li>
</ul>`;

/**
 * The admin center's door: an anonymous browser is sent here (never to a 401 answer). One sign-in method leads
 * straight to it; several are offered side by side; none explains how to set one up.
 */
export function mountSignInPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  router.get('/sign-in', (koa: Koa.Context) => {
    const returnTo = returnPath(koa.query.returnTo);
    const methods = signInMethods(ctx);
    if (methods.length === 1) {
      koa.redirect(methods[0].path(returnTo));
      return;
    }
    const organization = ctx.gateway.organizationName;
    const body =
      methods.length === 0
        ? NO_METHOD
        : html`<p>Choose how to sign in:</p><ul class="sign-in-methods">${methods.map(
            (m) => html`<li><a class="button" href="${m.path(returnTo)}">${m.label}</a></li>`,
          )}</ul>`;
    koa.status = 200;
    koa.set('Content-Security-Policy', PAGE_CSP);
    koa.set('Cache-Control', 'no-store');
    koa.type = 'text/html; charset=utf-8';
    koa.body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in · ${organization} admin</title><link rel="stylesheet" href="/admin/assets/admin.css"><link rel="icon" href="data:,"></head>
<body><header class="top"><span class="brand">${organization} · Enrollment Gateway</span></header>
<main id="main" class="message"><h1>Sign in to the admin center</h1>${body}</main></body></html>`.value;
  });
}
