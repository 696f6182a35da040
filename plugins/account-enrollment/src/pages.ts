import { html, type SafeHtml } from 'enrollment-gateway/sdk';
import type Koa from 'koa';

/** The few pages of the web sign-in, shown in the sheet Settings opens (ASWebAuthenticationSession). */
export function renderPage(
  ctx: Koa.Context,
  page: { id: string; status: number; title: string; message: string; organization: string },
): void {
  const body: SafeHtml = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title} · ${page.organization}</title></head>
<body data-page="${page.id}"><main><h1>${page.title}</h1><p>${page.message}</p>
<p>Close this sheet to go back to Settings.</p></main></body></html>`;
  ctx.status = page.status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body.value;
}
