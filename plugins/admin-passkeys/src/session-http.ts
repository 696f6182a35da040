import { timingSafeEqual } from 'node:crypto';
import { type AdminAuthenticator, type AdminPrincipal, ProblemError } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { AdminSessionStore } from './admin-sessions.js';
import type { RelyingParty } from './config.js';
import { type PasskeyService, scopesOf } from './passkeys.js';
import type { AdminRecord } from './storage/passkey-storage.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const SIGN_OUT_PATH = '/admin-auth/sign-out';

/** The session cookie: __Host- (Secure, Path=/, no Domain) over https; a plain name for a loopback preview. */
export class SessionCookie {
  readonly name: string;
  constructor(
    private readonly rp: RelyingParty,
    private readonly idleMs: number,
  ) {
    this.name = rp.secure ? '__Host-gw_admin' : 'gw_admin';
  }

  read(koa: Koa.Context): string | undefined {
    return koa.cookies.get(this.name) || undefined;
  }

  write(koa: Koa.Context, token: string): void {
    this.requireTransport(koa);
    koa.cookies.set(this.name, token, this.options(this.idleMs));
  }

  clear(koa: Koa.Context): void {
    this.requireTransport(koa);
    koa.cookies.set(this.name, '', this.options(0));
  }

  private options(maxAge: number) {
    return { httpOnly: true, secure: this.rp.secure, sameSite: 'lax' as const, path: '/', maxAge, overwrite: true };
  }

  private requireTransport(koa: Koa.Context): void {
    if (this.rp.secure && !koa.secure) {
      throw new ProblemError(
        403,
        'HTTPS required',
        'admin sessions need https: serve the gateway behind the TLS proxy with http.trustProxy enabled',
      );
    }
  }
}

export function sameSecret(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function principalOf(admin: AdminRecord, csrfToken: string): AdminPrincipal {
  return {
    id: `passkey:${admin._id}`,
    kind: 'user',
    displayName: admin.email,
    scopes: scopesOf(admin.role),
    session: { csrfToken, signOutPath: SIGN_OUT_PATH },
  };
}

/**
 * Admin routes with a passkey session: the admin record and its revocation are read on every request, so a
 * revocation takes effect at once (the session is dropped and the browser is asked to sign in again); a
 * state-changing call must echo the session's CSRF token in X-CSRF-Token.
 */
export function passkeySessionAuthenticator(deps: {
  cookie: SessionCookie;
  sessions: AdminSessionStore;
  passkeys: PasskeyService;
}): AdminAuthenticator {
  return {
    name: 'passkey-session',
    async authenticate(koa) {
      const token = deps.cookie.read(koa);
      if (!token) return undefined;
      const session = await deps.sessions.get(token);
      if (!session) return undefined;
      let admin: AdminRecord;
      try {
        admin = await deps.passkeys.activeAdmin(session.adminId);
      } catch (error) {
        await deps.sessions.destroy(token);
        if (ProblemError.is(error)) throw new ProblemError(401, error.title, error.detail);
        throw error;
      }
      if (!SAFE_METHODS.has(koa.method) && !sameSecret(session.csrf, koa.get('x-csrf-token'))) {
        throw new ProblemError(403, 'CSRF check failed', "send the session's CSRF token in the X-CSRF-Token header");
      }
      return principalOf(admin, session.csrf);
    },
  };
}
