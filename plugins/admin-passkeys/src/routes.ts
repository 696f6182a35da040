import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import {
  type AuditLog,
  NotFoundProblem,
  type PluginRouter,
  ProblemError,
  readJsonBody,
  readRawBody,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import type { AdminSessionStore } from './admin-sessions.js';
import { PASSKEYS_JS } from './client.js';
import { invitePage, messagePage, PAGE_CSP, signInPage } from './pages.js';
import { PasskeyRefused, type PasskeyService } from './passkeys.js';
import { type SessionCookie, sameSecret } from './session-http.js';
import type { AdminRecord } from './storage/passkey-storage.js';

export interface BrowserRouteDeps {
  passkeys: PasskeyService;
  sessions: AdminSessionStore;
  cookie: SessionCookie;
  organization: string;
  audit(): AuditLog | undefined;
}

/** The SimpleWebAuthn browser bundle, served by the gateway itself (no CDN under the strict CSP). */
function webauthnBundle(): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return readFileSync(path.join(path.dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');
}

/** The outline of a WebAuthn answer; SimpleWebAuthn checks its inner structure and signatures. */
function credentialAnswer<T>() {
  return z.custom<T>((value) => {
    const answer = value as { id?: unknown; type?: unknown; response?: unknown } | null;
    return (
      typeof answer === 'object' &&
      answer !== null &&
      typeof answer.id === 'string' &&
      answer.id.length > 0 &&
      answer.id.length <= 1024 &&
      answer.type === 'public-key' &&
      typeof answer.response === 'object'
    );
  }, 'response must be a WebAuthn credential answer');
}
const ceremonyFields = { ceremonyId: z.string().max(64), returnTo: z.string().max(2048).optional() };
const signInAnswer = z.object({ ...ceremonyFields, response: credentialAnswer<AuthenticationResponseJSON>() });
const registrationAnswer = z.object({ ...ceremonyFields, response: credentialAnswer<RegistrationResponseJSON>() });

/** Same-gateway paths only: one leading "/", never "//" or "\\" (another host), resolved against our origin. */
export function safeReturnPath(value: string | undefined): string {
  const control = [...(value ?? '')].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (!value?.startsWith('/') || /^\/[/\\]/.test(value) || value.includes('\\') || control) return '/admin';
  const base = 'https://gateway.invalid';
  try {
    const resolved = new URL(value, base);
    if (resolved.origin !== base || /^\/[/\\]/.test(resolved.pathname)) return '/admin';
    return `${resolved.pathname}${resolved.search}`;
  } catch {
    return '/admin';
  }
}

function sendPage(koa: Koa.Context, status: number, body: string): void {
  koa.status = status;
  koa.set('Content-Security-Policy', PAGE_CSP);
  koa.set('Cache-Control', 'no-store');
  koa.type = 'text/html; charset=utf-8';
  koa.body = body;
}

/** Browser-facing routes under /admin-auth: sign-in, invite links, sign-out, and the two scripts. */
export function mountBrowserRoutes(router: PluginRouter, deps: BrowserRouteDeps): void {
  const assets: Record<string, { body: string; etag: string }> = {};
  const asset = (name: string, body: string) => {
    assets[name] = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
  };
  asset('passkeys.js', PASSKEYS_JS);
  asset('webauthn.js', webauthnBundle());

  const startSession = async (koa: Koa.Context, admin: AdminRecord, action: string) => {
    const { token } = await deps.sessions.create(admin._id);
    deps.cookie.write(koa, token);
    await deps.audit()?.record({
      actor: { id: `passkey:${admin._id}`, kind: 'user', displayName: admin.email },
      action,
      target: { type: 'admin', id: admin._id },
      requestId: koa.state.requestId as string | undefined,
    });
  };
  const refusedAudit = async (koa: Koa.Context, error: unknown, action: string) => {
    if (!(error instanceof PasskeyRefused)) return;
    await deps.audit()?.record({
      actor: { id: 'anonymous', kind: 'user', displayName: 'anonymous' },
      action,
      target: { type: 'admin', id: 'unknown' },
      after: { reason: error.reason },
      requestId: koa.state.requestId as string | undefined,
    });
  };

  router.get('/assets/:name', (koa) => {
    const found = Object.hasOwn(assets, koa.params.name) ? assets[koa.params.name] : undefined;
    if (!found) throw new NotFoundProblem('no such asset');
    koa.set('ETag', found.etag);
    koa.set('Cache-Control', 'no-cache');
    koa.set('X-Content-Type-Options', 'nosniff');
    if (koa.get('if-none-match') === found.etag) {
      koa.status = 304;
      return;
    }
    koa.type = 'text/javascript; charset=utf-8';
    koa.body = found.body;
  });

  router.get('/sign-in', (koa) => {
    const returnTo = safeReturnPath(typeof koa.query.returnTo === 'string' ? koa.query.returnTo : undefined);
    const notice = koa.query.signedOut === '1' ? 'You are signed out.' : undefined;
    sendPage(koa, 200, signInPage(deps.organization, returnTo, notice));
  });
  router.post('/sign-in/options', async (koa) => {
    koa.set('Cache-Control', 'no-store');
    koa.body = await deps.passkeys.authenticationOptions();
  });
  router.post('/sign-in', async (koa) => {
    const answer = await readJsonBody(koa, signInAnswer, 64 * 1024);
    try {
      const admin = await deps.passkeys.authenticate(answer.ceremonyId, answer.response);
      await startSession(koa, admin, 'admin.signed-in');
    } catch (error) {
      await refusedAudit(koa, error, 'admin.sign-in.refused');
      throw error;
    }
    koa.body = { redirect: safeReturnPath(answer.returnTo) };
  });

  router.get('/invite/:token', async (koa) => {
    try {
      const invite = await deps.passkeys.openInvite(koa.params.token);
      sendPage(koa, 200, invitePage(deps.organization, koa.params.token, invite.email, invite.role));
    } catch (error) {
      if (!(error instanceof PasskeyRefused)) throw error;
      sendPage(koa, error.status, messagePage(deps.organization, error.title, error.detail ?? '', error.status));
    }
  });
  router.post('/invite/:token/options', async (koa) => {
    koa.set('Cache-Control', 'no-store');
    koa.body = await deps.passkeys.registrationOptions(koa.params.token);
  });
  router.post('/invite/:token', async (koa) => {
    const answer = await readJsonBody(koa, registrationAnswer, 64 * 1024);
    try {
      const admin = await deps.passkeys.register(koa.params.token, answer.ceremonyId, answer.response);
      await startSession(koa, admin, 'admin.passkey-registered');
    } catch (error) {
      await refusedAudit(koa, error, 'admin.invite.refused');
      throw error;
    }
    koa.body = { redirect: '/admin' };
  });

  router.post('/sign-out', async (koa) => {
    const form = new URLSearchParams((await readRawBody(koa, 4096)).toString('utf8'));
    const token = deps.cookie.read(koa);
    const session = token ? await deps.sessions.get(token) : undefined;
    if (token && session) {
      if (!sameSecret(session.csrf, form.get('csrf') ?? undefined)) {
        throw new ProblemError(403, 'CSRF check failed', 'sign out from the admin center page');
      }
      await deps.sessions.destroy(token);
    }
    deps.cookie.clear(koa);
    koa.redirect('/admin-auth/sign-in?signedOut=1');
  });
}
