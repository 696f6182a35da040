import { randomUUID } from 'node:crypto';
import { LiveChannel, type LiveChannelContext, type LiveStream } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import type { Logger } from 'pino';

/** Something changed for a user, a device or an enrollment session; live pages re-read their state. */
export interface LiveNotice {
  userId?: string;
  deviceId?: string;
  enrollmentId?: string;
}

/** The topics a notice reaches, and a page listens to: one per user, device and enrollment session. */
export const noticeTopics = (notice: LiveNotice): string[] => [
  ...(notice.userId ? [`user:${notice.userId}`] : []),
  ...(notice.deviceId ? [`device:${notice.deviceId}`] : []),
  ...(notice.enrollmentId ? [`enrollment:${notice.enrollmentId}`] : []),
];

/**
 * Live updates across replicas: domain event handlers (in whichever gateway or worker process raised the event)
 * publish a notice on the portal's LiveChannel; every serving replica hands it to the event streams it holds open
 * for that user, device or session. The notice only says "look again": the state itself is always re-read.
 */
export class LiveNotices {
  readonly channel: LiveChannel;

  constructor(ctx: LiveChannelContext) {
    this.channel = new LiveChannel(ctx, { name: 'live', retryMs: 2000 });
  }

  async publish(notice: LiveNotice): Promise<void> {
    const topics = noticeTopics(notice);
    if (topics.length > 0) await this.channel.publish(topics, 'notice');
  }

  get openStreams(): number {
    return this.channel.openStreams;
  }

  async stop(): Promise<void> {
    await this.channel.close();
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
  live: LiveNotices;
  /** Re-renders the live region from current state. */
  render: () => Promise<LiveFrame>;
  /** What the page follows (asked again after each render, as it may learn more): notices about any re-render it. */
  concerns: () => LiveNotice;
  refreshMs: number;
  maxMs: number;
  logger: Logger;
  /** Called once when the stream ends, however it ends (or at once when the browser had already gone). */
  onClose?: () => void;
}

/**
 * Re-renders the region and sends it when it changed; a call while one runs makes that one go round again, so
 * renders never overlap and the last notice is never lost.
 */
function regionRefresher(options: EventStreamOptions): (stream: LiveStream) => Promise<void> {
  let running = false;
  let pending = false;
  let last = '';
  return async (stream) => {
    if (running) {
      pending = true;
      return;
    }
    running = true;
    try {
      do {
        pending = false;
        const next = await options.render();
        if (stream.closed) return;
        for (const topic of noticeTopics(options.concerns())) stream.follow(topic);
        if ('signin' in next) {
          stream.send('signin', { location: next.signin });
          stream.end();
          return;
        }
        if (next.html !== last) {
          last = next.html;
          stream.send('update', { html: next.html, state: next.state });
        }
        if (next.final) {
          stream.send('done', {});
          stream.end();
          return;
        }
      } while (pending && !stream.closed);
    } catch (error) {
      options.logger.warn({ err: error }, 'live update failed');
    } finally {
      running = false;
    }
  };
}

/**
 * Serves server-sent events for one live page: the current region at once, then again whenever a notice concerns
 * the page (and once more shortly after, since other plugins may still be writing what the event was about),
 * and on a periodic tick as a safety net for missed notices. The stream ends after `maxMs`; EventSource
 * reconnects, which re-checks the session.
 */
export async function openEventStream(ctx: Koa.Context, options: EventStreamOptions): Promise<void> {
  const refresh = regionRefresher(options);
  let followUp: NodeJS.Timeout | undefined;
  let stream: LiveStream | undefined;
  try {
    stream = await options.live.channel.open(ctx, {
      topics: noticeTopics(options.concerns()),
      maxMs: options.maxMs,
      onMessage: (_notice, open) => {
        void refresh(open);
        // One follow-up, 500 ms after the latest notice: a burst of notices does not pile up timers.
        clearTimeout(followUp);
        followUp = setTimeout(() => {
          followUp = undefined;
          void refresh(open);
        }, 500);
      },
    });
  } finally {
    if (!stream) options.onClose?.();
  }
  if (!stream) return;
  const open = stream;
  const tick = setInterval(() => void refresh(open), options.refreshMs);
  open.onClose(() => {
    clearInterval(tick);
    clearTimeout(followUp);
    options.onClose?.();
  });
  void refresh(open);
}
