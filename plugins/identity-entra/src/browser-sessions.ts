import type { AuditLog, BrowserSessions, SignedInUser } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import { auditRefusal } from './refusals.js';
import { csrfMatches, type SessionManager, safeReturnPath } from './sessions.js';
import type { MongoUserDirectory, StoredUser } from './users.js';

const CACHE_SECONDS = 60;
/** Outlives every cache entry by far, so a generation never returns to a value an entry still carries. */
const GENERATION_SECONDS = 86_400;

/** Stores the entry only if the user's generation is still the one the reader saw before reading the database. */
const SET_IF_CURRENT = `
local current = redis.call('GET', KEYS[1]) or '0'
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1`;

interface CacheEntry {
  generation: string;
  record: StoredUser;
}

/**
 * Directory records for page and admin requests, read through Redis: a request then costs one Redis round trip
 * instead of a database query. Every write to a user bumps the user's generation in Redis (see
 * MongoUserDirectory's `changed`), on every replica at once since Redis is shared. An entry counts only when it
 * carries the current generation, and a reader stores what it read from the database only if the generation did
 * not move meanwhile: a read racing a disable can never put the old "enabled" back. The expiry only bounds writes
 * made behind the gateway's back.
 */
export class UserRecordCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly users: Pick<MongoUserDirectory, 'record'>,
  ) {}

  private keys(userId: string): [generation: string, entry: string] {
    return [`${this.prefix}user-gen:${userId}`, `${this.prefix}user:${userId}`];
  }

  async get(userId: string): Promise<StoredUser | undefined> {
    const [generationKey, entryKey] = this.keys(userId);
    const [generation, raw] = await this.redis.mget(generationKey, entryKey);
    const seen = generation ?? '0';
    if (raw) {
      const entry = JSON.parse(raw) as CacheEntry;
      if (entry.generation === seen) return revive(entry.record);
    }
    const record = await this.users.record(userId);
    if (record) {
      const entry: CacheEntry = { generation: seen, record };
      await this.redis.eval(SET_IF_CURRENT, 2, generationKey, entryKey, seen, JSON.stringify(entry), CACHE_SECONDS);
    }
    return record;
  }

  /** Called after every write to the user: entries of older generations are dead from now on. */
  async drop(userId: string): Promise<void> {
    const [generationKey, entryKey] = this.keys(userId);
    await this.redis.multi().incr(generationKey).expire(generationKey, GENERATION_SECONDS).del(entryKey).exec();
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
