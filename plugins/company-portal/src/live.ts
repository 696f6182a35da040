import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import type { Logger } from 'pino';

/** Something changed for a user, a device or an enrollment session; live pages re-read their state. */
export interface LiveNotice {
  userId?: string;
  deviceId?: string;
  enrollmentId?: string;
}

/**
 * Live updates across replicas: domain event handlers (in whichever gateway or worker process raised the event)
 * publish a notice on one Redis channel; every serving replica subscribes once and hands notices to the event
 * streams it holds open. The notice only says "look again": the state itself is always re-read.
 */
export class LiveHub {
  private readonly listeners = new Set<(notice: LiveNotice) => void>();
  private subscriber: Redis | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {}

  async publish(notice: LiveNotice): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify(notice));
  }

  async start(subscriber: Redis): Promise<void> {
    this.subscriber = subscriber;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      let notice: LiveNotice;
      try {
        notice = JSON.parse(message) as LiveNotice;
      } catch {
        this.logger.warn({ channel }, 'live notice is not JSON; ignored');
        return;
      }
      for (const listener of this.listeners) listener(notice);
    });
    await subscriber.subscribe(this.channel);
  }

  listen(listener: (notice: LiveNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get openStreams(): number {
    return this.listeners.size;
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.subscriber?.quit().catch(() => undefined);
    this.subscriber = undefined;
  }
}

/**
 * How many live streams each user may hold open, across every replica: each stream re-reads the database on every
 * tick, so one user opening tabs must not multiply that without bound. A slot is a member of the user's sorted set
 * scored by when it lapses; a stream gives it back when it closes, and a replica that dies leaves slots that lapse
 * on their own once every stream they stood for would have ended.
 */
export class StreamSlots {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limit: number,
    private readonly leaseMs: number,
  ) {}

  /** A release function when the user is under the limit; undefined when the slot was refused. */
  async take(userId: string): Promise<(() => void) | undefined> {
    const key = `${this.prefix}streams:${userId}`;
    const slot = randomUUID();
    const now = Date.now();
    const replies = await this.redis
      .multi()
      .zremrangebyscore(key, '-inf', now)
      .zadd(key, now + this.leaseMs, slot)
      .zcard(key)
      .pexpire(key, this.leaseMs)
      .exec();
    const held = Number(replies?.[2]?.[1] ?? 0);
    const release = () => void this.redis.zrem(key, slot).catch(() => undefined);
    if (held > this.limit) {
      release();
      return undefined;
    }
    return release;
  }
}

/** What a live page sends: its region's new HTML, or where to go because the session ended. */
export type LiveFrame = { html: string; state?: string; final?: boolean } | { signin: string };

export interface EventStreamOptions {
  hub: LiveHub;
  /** Re-renders the live region from current state. */
  render: () => Promise<LiveFrame>;
  /** Whether a notice concerns this page. */
  concerns: (notice: LiveNotice) => boolean;
  refreshMs: number;
  maxMs: number;
  logger: Logger;
  /** Called once when the stream ends, however it ends (or at once when the browser had already gone). */
  onClose?: () => void;
}

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Serves server-sent events for one live page: the current region at once, then again whenever a notice concerns
 * the page (and once more shortly after, since other plugins may still be writing what the event was about),
 * and on a periodic tick as a safety net for missed notices. The stream ends after `maxMs`; EventSource
 * reconnects, which re-checks the session.
 */
export function openEventStream(ctx: Koa.Context, options: EventStreamOptions): void {
  // The route awaited the session before coming here: a browser that left meanwhile has no 'close' left to send.
  if (ctx.res.destroyed || ctx.req.socket.destroyed) {
    options.onClose?.();
    ctx.status = 204;
    return;
  }
  const stream = new PassThrough();
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.status = 200;
  ctx.type = 'text/event-stream; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.body = stream;

  let closed = false;
  let running = false;
  let pending = false;
  let last = '';
  let followUp: NodeJS.Timeout | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(tick);
    clearTimeout(deadline);
    clearTimeout(followUp);
    unlisten();
    stream.end();
    options.onClose?.();
  };
  const refresh = async (): Promise<void> => {
    if (running) {
      pending = true;
      return;
    }
    running = true;
    try {
      do {
        pending = false;
        const next = await options.render();
        if (closed) return;
        if ('signin' in next) {
          stream.write(frame('signin', { location: next.signin }));
          close();
          return;
        }
        if (next.html !== last) {
          last = next.html;
          stream.write(frame('update', { html: next.html, state: next.state }));
        }
        if (next.final) {
          stream.write(frame('done', {}));
          close();
          return;
        }
      } while (pending && !closed);
    } catch (error) {
      options.logger.warn({ err: error }, 'live update failed');
    } finally {
      running = false;
    }
  };

  const unlisten = options.hub.listen((notice) => {
    if (closed || !options.concerns(notice)) return;
    void refresh();
    // One follow-up, 500 ms after the latest notice: a burst of notices does not pile up timers.
    clearTimeout(followUp);
    followUp = setTimeout(() => {
      followUp = undefined;
      void refresh();
    }, 500);
  });
  const tick = setInterval(() => void refresh(), options.refreshMs);
  const deadline = setTimeout(close, options.maxMs);
  // The response's 'close' comes when the browser goes or the stream ends, whichever is first.
  ctx.res.on('close', close);
  stream.write(`retry: 2000\n\n`);
  void refresh();
}
