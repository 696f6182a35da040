import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/** Hides credentials when a URL appears in a message. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    if (parsed.username) parsed.username = parsed.username ? '****' : '';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}

/**
 * The kernel's one way to open Redis connections. Every connection logs errors at most once per
 * outage instead of crashing the process, and reconnects forever with capped backoff.
 */
export class RedisFactory {
  private readonly clients = new Set<Redis>();
  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  create(purpose: string, options: RedisOptions = {}): Redis {
    const client = new Redis(this.url, {
      connectionName: `gateway:${purpose}`,
      retryStrategy: (attempt) => Math.min(200 * attempt, 2_000),
      lazyConnect: false,
      ...options,
    });
    let down = false;
    client.on('error', (error: Error) => {
      if (down) return;
      down = true;
      this.logger.warn({ purpose, err: { message: error.message } }, 'redis connection error');
    });
    client.on('ready', () => {
      if (down) this.logger.info({ purpose }, 'redis connection restored');
      down = false;
    });
    client.on('end', () => this.clients.delete(client));
    this.clients.add(client);
    return client;
  }

  /** For BullMQ workers: blocking commands must never give up (BullMQ production guide). */
  createForWorker(purpose: string): Redis {
    return this.create(purpose, { maxRetriesPerRequest: null, enableReadyCheck: false });
  }

  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.clients].map(async (client) => {
        try {
          if (client.status === 'ready') await client.quit();
          else client.disconnect();
        } catch {
          client.disconnect();
        }
      }),
    );
  }
}

/** The SDK's deadline helper, kept under this name for the kernel's callers. */
export { withTimeout } from './sdk/timeout.js';
