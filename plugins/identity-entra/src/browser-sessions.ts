import { type AuditLog, type BrowserSessions, GenerationCache, type SignedInUser } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import { auditRefusal } from './refusals.js';
import { csrfMatches, type SessionManager, safeReturnPath } from './sessions.js';
import type { MongoUserDirectory, StoredUser } from './users.js';

const CACHE_SECONDS = 60;

/**
 * Directory records for page and admin requests, read through Redis (the SDK's GenerationCache): a request then
 * costs one Redis round trip instead of a database query. Every write to a user moves the user's generation (see
 * MongoUserDirectory's `changed`), on every replica at once since Redis is shared, so a read racing a disable can
 * never put the old "enabled" back. The expiry only bounds writes made behind the gateway's back.
 */
export class UserRecordCache {
  private readonly cache: GenerationCache<StoredUser>;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly users: Pick<MongoUserDirectory, 'record'>,
  ) {
    this.cache = new GenerationCache<StoredUser>({
      redis,
      prefix: `${prefix}users:`,
      ttlSeconds: CACHE_SECONDS,
      revive: (parsed) => revive(parsed as StoredUser),
    });
  }

  get(userId: string): Promise<StoredUser | undefined> {
    return this.cache.getOrLoad(userId, () => this.users.record(userId));
  }

  /** Called after every write to the user: entries of older generations are dead from now on. */
  drop(userId: string): Promise<void> {
    return this.cache.invalidate(userId);
  }
}

const revive = (record: StoredUser): StoredUser => ({
  ...record,
  lastSignInAt: record.lastSignInAt ? new Date(record.lastSignInAt) : undefined,
});

/**
 * The browser session for plugins with pages (the portal). Every call loads the session through the same
 * koa-session middleware as /auth, once per request; a request without the cookie never touches Redis.
 */
export function browserSessions(deps: {
  sessions: SessionManager;
  userCache: UserRecordCache;
  audit(): AuditLog | undefined;
}): BrowserSessions {
  const { sessions, userCache } = deps;
  return {
    async currentUser(ctx: Koa.Context): Promise<SignedInUser | undefined> {
      if (!sessions.hasCookie(ctx)) return undefined;
      return sessions.run(ctx, async () => {
        const user = sessions.session(ctx).user;
        if (!user) return undefined;
        // The directory decides, not the session: a user disabled since signing in is signed out here.
        const record = await userCache.get(user.id);
        if (!record?.enabled) {
          ctx.session = null;
          await auditRefusal(
            deps.audit(),
            ctx,
            'identity.session.refused',
            { id: user.id, kind: 'user', displayName: user.displayName },
            { reason: record ? 'user_disabled' : 'user_unknown' },
          );
          return undefined;
        }
        return {
          id: user.id,
          upn: record.upn,
          displayName: record.displayName,
          tenantId: record.tenantId,
          groups: record.groups,
        };
      });
    },

    async csrfToken(ctx: Koa.Context): Promise<string | undefined> {
      if (!sessions.hasCookie(ctx)) return undefined;
      return sessions.run(ctx, async () => sessions.session(ctx).csrf);
    },

    async verifyCsrf(ctx: Koa.Context, submitted: string | undefined): Promise<boolean> {
      if (!sessions.hasCookie(ctx)) return false;
      return sessions.run(ctx, async () => {
        const session = sessions.session(ctx);
        if (csrfMatches(session.csrf, submitted)) return true;
        const user = session.user;
        await auditRefusal(
          deps.audit(),
          ctx,
          'identity.csrf.refused',
          user
            ? { id: user.id, kind: 'user', displayName: user.displayName }
            : { id: 'anonymous', kind: 'user', displayName: 'anonymous' },
          { method: ctx.method },
        );
        return false;
      });
    },

    signInPath(returnTo: string): string {
      return `/auth/signin?returnTo=${encodeURIComponent(safeReturnPath(returnTo) ?? '/')}`;
    },
  };
}
