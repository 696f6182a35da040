import {
  type AdminAuthenticator,
  type AdminPrincipal,
  type AuditLog,
  type IdentityProvider,
  IdentityRefusedError,
  ProblemError,
} from 'enrollment-gateway/sdk';
import { isAdmin, submittedCsrf } from './auth-routes.js';
import type { UserRecordCache } from './browser-sessions.js';
import type { IdentityConfig } from './config.js';
import { anonymous, auditRefusal, refusalText } from './refusals.js';
import { csrfMatches, type SessionManager } from './sessions.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * A signed-in browser session on admin routes: admins (configured app role or admin group) get every
 * scope; other users get 403; state-changing calls must echo the session's CSRF token. Enabled, roles and groups
 * come from the directory record (stored at each sign-in), not the session, so a disable takes effect at once and
 * a change of roles or groups in Entra at the user's next sign-in, whatever the session's age.
 */
export function sessionAuthenticator(deps: {
  config: IdentityConfig;
  sessions: SessionManager;
  userCache: UserRecordCache;
  audit(): AuditLog | undefined;
}): AdminAuthenticator {
  return {
    name: 'identity-session',
    async authenticate(ctx) {
      if (!deps.sessions.hasCookie(ctx)) return undefined;
      return deps.sessions.run(ctx, async (): Promise<AdminPrincipal | undefined> => {
        const session = deps.sessions.session(ctx);
        const user = session.user;
        if (!user) return undefined;
        const actor = { id: user.id, kind: 'user' as const, displayName: user.displayName };
        const record = await deps.userCache.get(user.id);
        if (!record?.enabled) {
          ctx.session = null;
          await auditRefusal(deps.audit(), ctx, 'identity.session.refused', actor, { reason: 'user_disabled' });
          throw new ProblemError(401, 'Account disabled', refusalText.user_disabled.detail);
        }
        if (!isAdmin(deps.config, record)) {
          throw new ProblemError(403, 'Forbidden', 'your account is not an administrator of this gateway');
        }
        if (!SAFE_METHODS.has(ctx.method) && !csrfMatches(session.csrf, await submittedCsrf(ctx))) {
          await auditRefusal(deps.audit(), ctx, 'identity.csrf.refused', actor, { method: ctx.method });
          throw new ProblemError(403, 'CSRF check failed', "send the session's CSRF token in the X-CSRF-Token header");
        }
        return { ...actor, scopes: ['*'] };
      });
    },
  };
}

/**
 * Bearer access tokens (automation) validated by the identity provider: signature, issuer (tenant),
 * audience, lifetime. Tokens that are not JWTs are left to other authenticators (API keys). A token of a user the
 * directory has disabled is refused (403); app-only tokens have no directory record and pass on their roles.
 */
export function bearerAuthenticator(deps: {
  config: IdentityConfig;
  provider(): IdentityProvider;
  userCache: UserRecordCache;
  audit(): AuditLog | undefined;
}): AdminAuthenticator {
  return {
    name: 'identity-bearer',
    async authenticate(ctx) {
      const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
      if (!match || !JWT_SHAPE.test(match[1])) return undefined;
      let identity: Awaited<ReturnType<IdentityProvider['verifyAccessToken']>>;
      try {
        identity = await deps
          .provider()
          .verifyAccessToken({ headers: { authorization: `Bearer ${match[1]}` }, query: {} });
      } catch (error) {
        if (!(error instanceof IdentityRefusedError)) throw error;
        const actor = error.subject
          ? { id: error.subject, kind: 'bearer' as const, displayName: error.subject }
          : { ...anonymous, kind: 'bearer' as const };
        await auditRefusal(deps.audit(), ctx, 'identity.bearer.refused', actor, {
          reason: error.refusal,
          detail: error.detail,
        });
        ctx.set('WWW-Authenticate', `Bearer error="invalid_token"`);
        throw new ProblemError(401, 'Invalid token', refusalText[error.refusal].detail, {
          extensions: { reason: error.refusal },
        });
      }
      const record = await deps.userCache.get(identity.subject);
      if (record && !record.enabled) {
        const actor = { id: identity.subject, kind: 'bearer' as const, displayName: identity.displayName };
        await auditRefusal(deps.audit(), ctx, 'identity.bearer.refused', actor, { reason: 'user_disabled' });
        throw new ProblemError(403, 'Account disabled', refusalText.user_disabled.detail, {
          extensions: { reason: 'user_disabled' },
        });
      }
      if (!isAdmin(deps.config, identity)) {
        throw new ProblemError(403, 'Forbidden', 'the token carries no admin role or admin group');
      }
      return { id: identity.subject, kind: 'bearer', displayName: identity.displayName, scopes: ['*'] };
    },
  };
}
