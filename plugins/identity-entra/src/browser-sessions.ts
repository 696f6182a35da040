import type { AuditLog, BrowserSessions, DirectoryUser, SignedInUser } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import { auditRefusal } from './refusals.js';
import { csrfMatches, type SessionManager, safeReturnPath } from './sessions.js';
import type { MongoUserDirectory } from './users.js';

const CACHE_SECONDS = 60;

/**
 * Directory records for page requests, read through Redis: a portal page then costs a Redis GET instead of a
 * database query. Every write to a user drops its entry (see MongoUserDirectory's `changed`), on every replica
 * at once since the cache is shared; the expiry only bounds writes made behind the gateway's back.
 */
export class UserRecordCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly users: Pick<MongoUserDirectory, 'get'>,
  ) {}

  private key(userId: string): string {
    return `${this.prefix}user:${userId}`;
  }

  async get(userId: string): Promise<DirectoryUser | undefined> {
    const cached = await this.redis.get(this.key(userId));
    if (cached) return JSON.parse(cached) as DirectoryUser;
    const record = await this.users.get(userId);
    if (record) await this.redis.set(this.key(userId), JSON.stringify(record), 'EX', CACHE_SECONDS);
    return record;
  }

  async drop(userId: string): Promise<void> {
    await this.redis.del(this.key(userId));
  }
}

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
