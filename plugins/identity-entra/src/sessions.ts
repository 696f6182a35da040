import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProblemError } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import createSession from 'koa-session';

/** What a signed-in browser session holds (besides the sign-in state/nonce tuples while signing in). */
export interface SessionUser {
  id: string;
  upn: string;
  displayName: string;
  tenantId?: string;
  groups: string[];
  roles: string[];
  provider: string;
  signedInAt: number;
}

export interface GatewaySession extends Record<string, unknown> {
  createdAt?: number;
  csrf?: string;
  returnTo?: string;
  user?: SessionUser;
  regenerate(): Promise<void>;
}

export interface SessionSettings {
  cookieName: string;
  secrets: readonly string[];
  idleMs: number;
  absoluteMs: number;
  redis: Redis;
  keyPrefix: string;
}

const LOADED = Symbol('identity.sessionLoaded');

/**
 * Server-side sessions with koa-session: the cookie only carries a random id, HMAC-signed with the
 * configured secrets (the first signs, all verify, so keys can rotate); the data lives in Redis.
 * Idle expiry is koa-session's rolling maxAge; absolute expiry is checked against `createdAt`.
 */
export class SessionManager {
  private middleware: Koa.Middleware | undefined;

  constructor(private readonly settings: SessionSettings) {}

  /** Runs `inner` with ctx.session loaded (once per request) and commits it afterwards. */
  async run<T>(ctx: Koa.Context, inner: () => Promise<T>): Promise<T> {
    if ((ctx.state as Record<symbol, unknown>)[LOADED]) return inner();
    (ctx.state as Record<symbol, unknown>)[LOADED] = true;
    this.requireSecureTransport(ctx);
    let result: T | undefined;
    await this.middlewareFor(ctx.app)(ctx, async () => {
      result = await inner();
    });
    return result as T;
  }

  /** Koa middleware form of `run`, for the browser routes. */
  routeMiddleware(): Koa.Middleware {
    return (ctx, next) => this.run(ctx, next);
  }

  hasCookie(ctx: Koa.Context): boolean {
    return Boolean(ctx.cookies.get(this.settings.cookieName));
  }

  session(ctx: Koa.Context): GatewaySession {
    return ctx.session as unknown as GatewaySession;
  }

  /** Secure cookies need https as the browser sees it: TLS here, or a trusted proxy saying so. */
  private requireSecureTransport(ctx: Koa.Context): void {
    if (!ctx.secure) {
      throw new ProblemError(
        403,
        'HTTPS required',
        'sessions need https: serve the gateway behind the TLS proxy with http.trustProxy enabled',
      );
    }
  }

  private middlewareFor(app: Koa): Koa.Middleware {
    if (this.middleware) return this.middleware;
    const { cookieName, idleMs, absoluteMs, redis, keyPrefix } = this.settings;
    const cookieOptions = { httpOnly: true, secure: true, sameSite: 'lax' as const, path: '/', signed: false };
    const storeKey = (id: string) => `${keyPrefix}session:${id}`;
    const options = {
      key: cookieName,
      maxAge: idleMs,
      rolling: true,
      ...cookieOptions,
      genid: () => randomBytes(32).toString('base64url'),
      valid: (_ctx: unknown, data: Record<string, unknown>) =>
        typeof data.createdAt === 'number' && Date.now() - data.createdAt < absoluteMs,
      store: {
        get: async (id: string) => {
          const raw = await redis.get(storeKey(id));
          return raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
        },
        set: async (id: string, data: Record<string, unknown>, maxAge: number) => {
          await redis.set(storeKey(id), JSON.stringify(data), 'PX', Math.max(1000, Math.round(maxAge)));
        },
        destroy: async (id: string) => {
          await redis.del(storeKey(id));
        },
      },
      externalKey: {
        get: (ctx: Koa.Context) => this.verify(ctx.cookies.get(cookieName) ?? ''),
        set: (ctx: Koa.Context, id: string) => {
          ctx.cookies.set(cookieName, this.sign(id), { ...cookieOptions, maxAge: idleMs, overwrite: true });
        },
      },
    };
    this.middleware = createSession(options as never, app) as unknown as Koa.Middleware;
    return this.middleware;
  }

  private mac(id: string, secret: string): string {
    return createHmac('sha256', secret).update(id).digest('base64url');
  }

  private sign(id: string): string {
    return `${id}.${this.mac(id, this.settings.secrets[0])}`;
  }

  /** The session id when the cookie's signature verifies under any configured secret; '' otherwise. */
  private verify(cookie: string): string {
    const dot = cookie.lastIndexOf('.');
    if (dot <= 0) return '';
    const id = cookie.slice(0, dot);
    const given = Buffer.from(cookie.slice(dot + 1));
    for (const secret of this.settings.secrets) {
      const expected = Buffer.from(this.mac(id, secret));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return id;
    }
    return '';
  }
}

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of the submitted CSRF token with the session's. */
export function csrfMatches(expected: string | undefined, given: string | undefined): boolean {
  if (!expected || !given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Only same-gateway paths: one leading "/", no "//" or "\" (browsers read both as another host),
 * no control characters, and the URL must resolve to our own origin. The answer is the resolved form, so it is
 * checked once more: dot segments ("/.//x", "/%2e//x", "/a/..//x") resolve to a path starting with "//", which a
 * browser would read as another host.
 */
export function safeReturnPath(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return '/';
  if (value.length > 2048 || !value.startsWith('/') || value.startsWith('//')) return undefined;
  if (value.includes('\\') || [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    return undefined;
  const base = 'https://gateway.invalid';
  let resolved: URL;
  try {
    resolved = new URL(value, base);
  } catch {
    return undefined;
  }
  if (resolved.origin !== base || /^\/[/\\]/.test(resolved.pathname)) return undefined;
  return `${resolved.pathname}${resolved.search}${resolved.hash}`;
}
