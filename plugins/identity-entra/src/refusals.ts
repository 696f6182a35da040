import { type AdminPrincipal, type AuditLog, type IdentityRefusal, ProblemError } from 'enrollment-gateway/sdk';
import type Koa from 'koa';

/**
 * What the user is told for each refusal; the provider's own message goes to logs and the audit log only.
 * A bad token at the sign-in callback is 403, never 401: the caller is Safari on a phone, which must not be asked
 * for credentials. Bearer callers get 401 with WWW-Authenticate from the bearer authenticator instead.
 */
export const refusalText: Record<IdentityRefusal, { status: number; title: string; detail: string }> = {
  invalid_state: {
    status: 400,
    title: 'Sign-in link expired or reused',
    detail: 'This sign-in response was already used or does not belong to this browser. Start again.',
  },
  invalid_token: { status: 403, title: 'Sign-in refused', detail: 'The identity token is not valid.' },
  tampered_token: { status: 403, title: 'Sign-in refused', detail: 'The token signature does not verify.' },
  expired_token: { status: 403, title: 'Sign-in refused', detail: 'The token has expired.' },
  wrong_audience: { status: 403, title: 'Sign-in refused', detail: 'The token was issued for another application.' },
  wrong_tenant: { status: 403, title: 'Sign-in refused', detail: 'The token was issued by another organization.' },
  missing_groups: {
    status: 403,
    title: 'Sign-in refused',
    detail: "Your account's group memberships were not sent. Ask your administrator to add the groups claim.",
  },
  provider_error: {
    status: 502,
    title: 'Sign-in failed',
    detail: 'The identity provider could not complete the sign-in. Try again later.',
  },
  user_disabled: {
    status: 403,
    title: 'Account disabled',
    detail: 'Your account has been disabled on this gateway. Contact your administrator.',
  },
};

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** Browsers navigating get a short page; API callers get problem+json from the kernel. */
export function refuse(ctx: Koa.Context, status: number, title: string, detail: string, reason?: string): void {
  if (ctx.accepts('html', 'json') === 'html' && ctx.get('accept').includes('text/html')) {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body =
      `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
      `<title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p>` +
      `<p><a href="/auth/signin">Sign in again</a></p></html>`;
    return;
  }
  throw new ProblemError(status, title, detail, reason ? { extensions: { reason } } : {});
}

export type Actor = Pick<AdminPrincipal, 'id' | 'kind' | 'displayName'>;
export const anonymous: Actor = { id: 'anonymous', kind: 'user', displayName: 'anonymous' };

/** Records a refused credential or request; failures to audit are logged, never hide the refusal. */
export async function auditRefusal(
  audit: AuditLog | undefined,
  ctx: Koa.Context,
  action: string,
  actor: Actor,
  details: Record<string, unknown>,
): Promise<void> {
  try {
    await audit?.record({
      actor,
      action,
      target: { type: 'user', id: actor.id },
      after: { ...details, ip: ctx.ip, path: ctx.path },
      requestId: ctx.state.requestId as string | undefined,
    });
  } catch (error) {
    (ctx.state.log as { error(o: object, m: string): void } | undefined)?.error({ err: error }, 'audit failed');
  }
}
