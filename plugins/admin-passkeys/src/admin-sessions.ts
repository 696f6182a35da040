import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** What a signed-in admin's session holds; the admin record and its revocation are read on every request. */
export interface AdminSession {
  adminId: string;
  csrf: string;
  createdAt: number;
}

/**
 * Admin sessions in Redis (any replica sees them): the cookie carries a random 32-byte token, Redis keeps the
 * session under the token's SHA-256, so a Redis dump holds no usable cookie. Idle expiry is the key's TTL, renewed
 * on use; absolute expiry is checked against `createdAt`.
 */
export class AdminSessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly idleMs: number,
    private readonly absoluteMs: number,
  ) {}

  private key(token: string): string {
    return `${this.keyPrefix}session:${createHash('sha256').update(token).digest('base64url')}`;
  }

  async create(adminId: string): Promise<{ token: string; session: AdminSession }> {
    const token = randomBytes(32).toString('base64url');
    const session: AdminSession = { adminId, csrf: randomBytes(32).toString('base64url'), createdAt: Date.now() };
    await this.redis.set(this.key(token), JSON.stringify(session), 'PX', this.idleMs);
    return { token, session };
  }

  async get(token: string): Promise<AdminSession | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const key = this.key(token);
    const raw = await this.redis.get(key);
    if (!raw) return undefined;
    const session = JSON.parse(raw) as AdminSession;
    if (Date.now() - session.createdAt >= this.absoluteMs) {
      await this.redis.del(key);
      return undefined;
    }
    await this.redis.pexpire(key, this.idleMs);
    return session;
  }

  async destroy(token: string): Promise<void> {
    await this.redis.del(this.key(token));
  }
}
