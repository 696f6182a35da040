import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** RFC 8555 §6.5 replay nonces in Redis: minted by any replica, each usable once (DEL answers 1 exactly once). */
export class NonceStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async mint(): Promise<string> {
    const nonce = randomBytes(16).toString('base64url');
    await this.redis.set(`${this.prefix}acme:nonce:${nonce}`, '1', 'EX', this.ttlSeconds);
    return nonce;
  }

  async consume(nonce: string): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return false;
    return (await this.redis.del(`${this.prefix}acme:nonce:${nonce}`)) === 1;
  }
}
