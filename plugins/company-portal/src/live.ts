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
}

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Serves server-sent events for one live page: the current region at once, then again whenever a notice concerns
 * the page (and once more shortly after, since other plugins may still be writing what the event was about),
 * and on a periodic tick as a safety net for missed notices. The stream ends after `maxMs`; EventSource
 * reconnects, which re-checks the session.
 */
export function openEventStream(ctx: Koa.Context, options: EventStreamOptions): void {
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
  const timers: NodeJS.Timeout[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    for (const timer of timers) clearTimeout(timer);
    unlisten();
    stream.end();
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
    timers.push(setTimeout(() => void refresh(), 500));
  });
  const tick = setInterval(() => void refresh(), options.refreshMs);
  timers.push(tick, setTimeout(close, options.maxMs));
  ctx.req.on('close', close);
  stream.write(`retry: 2000\n\n`);
  void refresh();
}
