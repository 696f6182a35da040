import {
  type AuditLog,
  type IdentityProvider,
  IdentityRefusedError,
  type PluginRouter,
  ProblemError,
  type RateLimits,
  rateLimit,
  readRawBody,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { IdentityConfig } from './config.js';
import { anonymous, auditRefusal, refusalText, refuse } from './refusals.js';
import { csrfMatches, newCsrfToken, type SessionManager, safeReturnPath } from './sessions.js';
import type { SignInState, SignInStateCookie } from './signin-state.js';
import type { MongoUserDirectory } from './users.js';

export interface AuthDeps {
  config: IdentityConfig;
  sessions: SessionManager;
  users: MongoUserDirectory;
  provider(): IdentityProvider;
  audit(): AuditLog | undefined;
  signInState: SignInStateCookie;
  rateLimits: RateLimits;
}

/** Pending sign-ins a browser keeps (tabs); a state past this size starts over rather than grow the cookie. */
const MAX_STATE_CHARS = 2_000;

export function isAdmin(
  config: IdentityConfig,
  user: { roles: readonly string[]; groups: readonly string[] },
): boolean {
  return (
    user.roles.some((role) => config.adminRoles.includes(role)) ||
    user.groups.some((group) => config.adminGroups.includes(group))
  );
}

const asString = (value: unknown) =>
  Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined;

/** The CSRF token of a state-changing request: X-CSRF-Token header, or a `csrf` form field. */
export async function submittedCsrf(ctx: Koa.Context): Promise<string | undefined> {
  const header = ctx.get('x-csrf-token');
  if (header) return header;
  if (ctx.is('application/x-www-form-urlencoded')) {
    return new URLSearchParams((await readRawBody(ctx, 8 * 1024)).toString('utf8')).get('csrf') ?? undefined;
  }
  return undefined;
}

/** Browser sign-in under /auth: signin → identity provider → callback → session; me; signout. */
export function mountAuthRoutes(router: PluginRouter, deps: AuthDeps): void {
  const { sessions, users, config } = deps;
  router.use(sessions.routeMiddleware());

  // Per client on both legs; per sign-in attempt (its OIDC state) on the callback.
  router.get('/signin', rateLimit(deps, 'signIn'), async (ctx) => {
    const requested = asString(ctx.query.returnTo);
    const returnTo = safeReturnPath(requested);
    if (!returnTo) {
      await auditRefusal(deps.audit(), ctx, 'identity.redirect.refused', anonymous, {
        returnTo: requested?.slice(0, 300),
      });
      return refuse(
        ctx,
        400,
        'Return address refused',
        'Sign-in can only return to a page of this gateway.',
        'open_redirect',
      );
    }
    // Nothing is stored on the server before sign-in: the pending state rides in an encrypted cookie.
    let state: SignInState = deps.signInState.open(ctx);
    if (JSON.stringify(state).length > MAX_STATE_CHARS) state = {};
    state.returnTo = returnTo;
    const { redirectUrl } = await deps.provider().beginSignIn({ query: {}, headers: ctx.headers, store: state });
    if (!deps.signInState.save(ctx, state)) throw new ProblemError(400, 'Bad request', 'sign-in state too large');
    ctx.redirect(redirectUrl);
  });

  router.get(
    '/callback',
    rateLimit(deps, 'signIn', { key: (koa) => asString(koa.query.state) ?? 'no-state' }),
    async (ctx) => {
      const state = deps.signInState.open(ctx);
      const provider = deps.provider();
      let identity: Awaited<ReturnType<IdentityProvider['completeSignIn']>>;
      try {
        identity = await provider.completeSignIn({ query: ctx.query, headers: ctx.headers, store: state });
      } catch (error) {
        if (!(error instanceof IdentityRefusedError)) throw error;
        // Whatever the provider used up stays used up; other pending sign-ins (tabs) stay.
        deps.signInState.save(ctx, state);
        ctx.state.log?.info({ refusal: error.refusal, detail: error.detail }, 'sign-in refused');
        const actor = error.subject
          ? { id: error.subject, kind: 'user' as const, displayName: error.subject }
          : anonymous;
        await auditRefusal(deps.audit(), ctx, 'identity.signin.refused', actor, {
          reason: error.refusal,
          detail: error.detail,
        });
        const text = refusalText[error.refusal];
        return refuse(ctx, text.status, text.title, text.detail, error.refusal);
      }
      const user = await users.recordSignIn(identity, provider.name);
      if (!user.enabled) {
        const actor = { id: user.id, kind: 'user' as const, displayName: user.displayName };
        await auditRefusal(deps.audit(), ctx, 'identity.signin.refused', actor, { reason: 'user_disabled' });
        const text = refusalText.user_disabled;
        return refuse(ctx, text.status, text.title, text.detail, 'user_disabled');
      }
      deps.signInState.clear(ctx);
      const returnTo = safeReturnPath(asString(state.returnTo)) ?? '/';
      // A new session id at the privilege change, so an id planted before sign-in is worthless.
      const session = sessions.session(ctx);
      await session.regenerate();
      for (const key of Object.keys(session)) if (key !== 'isNew' && !key.startsWith('_')) delete session[key];
      const now = Date.now();
      session.createdAt = now;
      session.csrf = newCsrfToken();
      session.user = {
        id: user.id,
        upn: user.upn,
        displayName: user.displayName,
        tenantId: user.tenantId,
        groups: [...identity.groups],
        roles: [...identity.roles],
        provider: provider.name,
        signedInAt: now,
      };
      await users.markSignedIn(user.id, new Date(now));
      ctx.state.log?.info({ userId: user.id }, 'signed in');
      ctx.redirect(returnTo);
    },
  );

  router.get('/me', async (ctx) => {
    const session = sessions.session(ctx);
    const user = session.user;
    if (!user) throw new ProblemError(401, 'Not signed in', 'sign in at /auth/signin');
    const record = await users.record(user.id);
    if (!record?.enabled) {
      await auditRefusal(
        deps.audit(),
        ctx,
        'identity.session.refused',
        { id: user.id, kind: 'user', displayName: user.displayName },
        { reason: 'user_disabled' },
      );
      ctx.session = null;
      throw new ProblemError(401, 'Account disabled', refusalText.user_disabled.detail, {
        extensions: { reason: 'user_disabled' },
      });
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      id: user.id,
      upn: user.upn,
      displayName: user.displayName,
      tenantId: user.tenantId,
      groups: record.groups,
      roles: record.roles,
      isAdmin: isAdmin(config, record),
      signedInAt: new Date(user.signedInAt).toISOString(),
      expiresAt: new Date(
        Math.min(
          (session.createdAt ?? user.signedInAt) + config.sessionAbsoluteHours * 3_600_000,
          Date.now() + config.sessionIdleMinutes * 60_000,
        ),
      ).toISOString(),
      csrfToken: session.csrf,
    };
  });

  router.post('/signout', async (ctx) => {
    const session = sessions.session(ctx);
    const given = await submittedCsrf(ctx);
    if (!csrfMatches(session.csrf, given)) {
      const actor = session.user
        ? { id: session.user.id, kind: 'user' as const, displayName: session.user.displayName }
        : anonymous;
      await auditRefusal(deps.audit(), ctx, 'identity.csrf.refused', actor, { route: 'signout' });
      return refuse(
        ctx,
        403,
        'Request refused',
        'The form expired or did not come from this gateway (CSRF check failed).',
        'csrf',
      );
    }
    ctx.session = null;
    if (ctx.get('x-csrf-token')) {
      ctx.status = 204;
    } else {
      ctx.redirect('/');
      ctx.status = 303;
    }
  });
}
