import { PassThrough } from 'node:stream';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import type { Logger } from 'pino';

/** What a LiveChannel needs of a plugin context: its Redis clients, key prefix and logger. */
export interface LiveChannelContext {
  readonly redis: Redis;
  readonly redisKeyPrefix: string;
  readonly logger: Logger;
  createRedis(purpose: string): Redis;
}

export interface LiveChannelOptions {
  /** Names the Redis channel ("<redisKeyPrefix><name>") and the subscriber connection. */
  name: string;
  /** The reconnect delay sent to browsers (the SSE `retry:` field). Default 3000 ms. */
  retryMs?: number;
  /** How often an idle stream gets a comment line, so proxies keep it open. Default 15000 ms. */
  heartbeatMs?: number;
}

/** One published message, as every stream listening to one of its topics receives it. */
export interface LiveMessage {
  readonly topics: readonly string[];
  readonly event: string;
  readonly data: unknown;
}

export interface LiveStreamOptions {
  /** Messages published to any of these topics reach `onMessage` (once per message). */
  topics: readonly string[];
  onMessage?: (message: LiveMessage, stream: LiveStream) => void;
  /** The stream ends after this long; EventSource reconnects (and the route re-checks who asks). */
  maxMs?: number;
}

/** One open server-sent event stream. */
export interface LiveStream {
  /** The `Last-Event-ID` the browser sent when it reconnected, if any. */
  readonly lastEventId: string | undefined;
  readonly closed: boolean;
  /** Writes one event; `id` becomes the browser's Last-Event-ID on reconnect. Ignored once closed. */
  send(event: string, data: unknown, id?: string): void;
  /** Runs `cleanup` when the stream ends, however it ends; at once when it has already ended. */
  onClose(cleanup: () => void): void;
  /** Listens to one more topic from now on (a page that learns what it follows while open). */
  follow(topic: string): void;
  end(): void;
}

const frame = (event: string, data: unknown, id?: string) =>
  `${id === undefined ? '' : `id: ${id.replace(/[\r\n]/g, '')}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

function parseMessage(raw: string): LiveMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { topics, event, data } = parsed as Record<string, unknown>;
  if (!Array.isArray(topics) || !topics.every((t) => typeof t === 'string') || typeof event !== 'string') {
    return undefined;
  }
  return { topics, event, data };
}

/**
 * Live updates for open pages, across replicas: any process (gateway or worker) publishes a message on one
 * Redis channel; every process holding a stream for one of the message's topics writes it to that stream as
 * server-sent events. One subscriber connection per channel and process, opened by the first stream. `close()`
 * ends every open stream (browsers reconnect to a replica that stays up) and quits the subscriber; call it from
 * the plugin's stop hook. The core also ends every text/event-stream response first on shutdown: both end the
 * same body stream, and a stream's cleanup runs once either way.
 */
export class LiveChannel {
  private readonly name: string;
  private readonly channel: string;
  private readonly retryMs: number;
  private readonly heartbeatMs: number;
  private readonly listeners = new Map<string, Set<(message: LiveMessage) => void>>();
  private readonly streams = new Set<LiveStream>();
  private subscribing: Promise<Redis> | undefined;
  private closing = false;

  constructor(
    private readonly ctx: LiveChannelContext,
    options: LiveChannelOptions,
  ) {
    this.channel = `${ctx.redisKeyPrefix}${options.name}`;
    this.retryMs = options.retryMs ?? 3000;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.name = options.name;
  }

  /** Sends `event` with `data` to every stream, on any replica, listening to one of `topics`. */
  async publish(topics: string | readonly string[], event: string, data: unknown = {}): Promise<void> {
    const list = typeof topics === 'string' ? [topics] : [...topics];
    await this.ctx.redis.publish(this.channel, JSON.stringify({ topics: list, event, data }));
  }

  /** Streams open on this process. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Turns the response into an event stream listening to `options.topics`, once the subscription is live (so a
   * message published after `open` returns is not missed). Undefined when there is no stream to write to: the
   * browser already left (the response is a 204), or the channel is closing (the response is an ended stream
   * with the retry hint, so EventSource reconnects elsewhere).
   */
  async open(koa: Koa.Context, options: LiveStreamOptions): Promise<LiveStream | undefined> {
    if (koa.res.destroyed || koa.req.socket.destroyed) {
      koa.status = 204;
      return undefined;
    }
    const body = new PassThrough();
    koa.req.socket.setTimeout(0);
    koa.req.socket.setNoDelay(true);
    koa.status = 200;
    koa.type = 'text/event-stream; charset=utf-8';
    koa.set('Cache-Control', 'no-store');
    koa.set('X-Accel-Buffering', 'no');
    koa.body = body;
    body.write(`retry: ${this.retryMs}\n\n`);
    if (this.closing) {
      body.end();
      return undefined;
    }
    const stream = this.track(koa, body, options);
    try {
      await this.subscribed();
    } catch (error) {
      stream.end();
      throw error;
    }
    return stream.closed ? undefined : stream;
  }

  private track(koa: Koa.Context, body: PassThrough, options: LiveStreamOptions): LiveStream {
    const cleanups: (() => void)[] = [];
    const followed = new Set<string>();
    let closed = false;
    const header = koa.get('Last-Event-ID');
    const stream: LiveStream = {
      lastEventId: header === '' ? undefined : header,
      get closed() {
        return closed;
      },
      send: (event, data, id) => {
        if (!closed) body.write(frame(event, data, id));
      },
      onClose: (cleanup) => (closed ? cleanup() : void cleanups.push(cleanup)),
      follow: (topic) => {
        if (closed || followed.has(topic)) return;
        followed.add(topic);
        this.listen(topic, listener, stream);
      },
      end: () => {
        if (closed) return;
        closed = true;
        this.streams.delete(stream);
        for (const cleanup of cleanups.splice(0)) {
          try {
            cleanup();
          } catch (error) {
            this.ctx.logger.warn({ err: error, channel: this.name }, 'live stream cleanup failed');
          }
        }
        body.end();
      },
    };
    const listener = (message: LiveMessage) => options.onMessage?.(message, stream);
    this.streams.add(stream);
    for (const topic of options.topics) stream.follow(topic);
    const heartbeat = setInterval(() => body.write(': keep-alive\n\n'), this.heartbeatMs);
    const deadline = options.maxMs === undefined ? undefined : setTimeout(stream.end, options.maxMs);
    stream.onClose(() => {
      clearInterval(heartbeat);
      clearTimeout(deadline);
    });
    // The response's 'close' comes when the browser goes or the body ends (the core's shutdown ends it too).
    koa.res.on('close', stream.end);
    body.on('close', stream.end);
    return stream;
  }

  private listen(topic: string, listener: (message: LiveMessage) => void, stream: LiveStream): void {
    const set = this.listeners.get(topic) ?? new Set();
    set.add(listener);
    this.listeners.set(topic, set);
    stream.onClose(() => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(topic) === set) this.listeners.delete(topic);
    });
  }

  private subscribed(): Promise<Redis> {
    this.subscribing ??= this.subscribe().catch((error: unknown) => {
      this.subscribing = undefined;
      throw error;
    });
    return this.subscribing;
  }

  private async subscribe(): Promise<Redis> {
    const subscriber = this.ctx.createRedis(`live:${this.name}`);
    subscriber.on('message', (channel: string, raw: string) => {
      if (channel === this.channel) this.deliver(raw);
    });
    try {
      await subscriber.subscribe(this.channel);
    } catch (error) {
      subscriber.disconnect();
      throw error;
    }
    return subscriber;
  }

  private deliver(raw: string): void {
    const message = parseMessage(raw);
    if (!message) {
      this.ctx.logger.warn({ channel: this.name }, 'live message is not one a LiveChannel published; ignored');
      return;
    }
    // A stream listening to several of the message's topics gets it once.
    const reached = new Set<(message: LiveMessage) => void>();
    for (const topic of message.topics) for (const listener of this.listeners.get(topic) ?? []) reached.add(listener);
    for (const listener of reached) {
      try {
        listener(message);
      } catch (error) {
        this.ctx.logger.warn({ err: error, channel: this.name }, 'live message listener failed');
      }
    }
  }

  /** Ends every open stream, refuses new ones, and quits the subscriber connection. */
  async close(): Promise<void> {
    this.closing = true;
    for (const stream of [...this.streams]) stream.end();
    const subscribing = this.subscribing;
    this.subscribing = undefined;
    const subscriber = await subscribing?.catch(() => undefined);
    await subscriber?.quit().catch(() => subscriber.disconnect());
  }
}
