import http2, { type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { jitteredBackoffMs, wait } from './backoff.js';
import { classifyResponse, classifyTransportError } from './classify.js';
import { openPooledSession, type PooledSession, type SessionListener, type SessionTarget } from './session-pool.js';
import {
  APNS_ENDPOINTS,
  type ApnsClientOptions,
  type MdmPushRequest,
  type PushOutcome,
  type RetriedOutcome,
  type RetryOptions,
} from './types.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;
const REQUEST_OPTIONS = { endStream: false } as const;

interface PushJob {
  request: MdmPushRequest;
  resolve: (outcome: PushOutcome) => void;
}

export interface ApnsClientStats {
  /** Connections in the pool (connecting or ready). */
  sessions: number;
  /** Connections opened since the client was created (reconnects show up here). */
  connectionsOpened: number;
  activeStreams: number;
  queued: number;
}

export class ApnsClientClosedError extends Error {
  constructor() {
    super('APNs client is closed');
    this.name = 'ApnsClientClosedError';
  }
}

/** Resolves 'production' / 'development' to Apple's hosts; anything else must be a URL. */
export function resolveApnsEndpoint(endpoint: string): string {
  const named = (APNS_ENDPOINTS as Record<string, string | undefined>)[endpoint];
  return new URL(named ?? endpoint).origin;
}

/**
 * APNs HTTP/2 client for MDM pushes: a small pool of long-lived connections, each carrying many concurrent
 * streams up to the server's SETTINGS_MAX_CONCURRENT_STREAMS; excess pushes wait in a FIFO queue.
 */
export class ApnsClient {
  private readonly target: SessionTarget;
  private readonly poolSize: number;
  private readonly requestTimeoutMs: number;
  private readonly throttleBackoffMs: number;
  private readonly defaultExpirationSeconds: number;
  private readonly pool: PooledSession[] = [];
  private readonly allSessions = new Set<PooledSession>();
  // FIFO as array + head index: shift() on a 100k-long queue is O(n).
  private queue: (PushJob | undefined)[] = [];
  private head = 0;
  private connectionsOpened = 0;
  private closed = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly listener: SessionListener;

  constructor(options: ApnsClientOptions) {
    this.target = {
      url: resolveApnsEndpoint(options.endpoint),
      certPem: options.certPem,
      keyPem: options.keyPem,
      ca: options.ca,
      maxStreamsPerSession: options.maxStreamsPerSession ?? 1000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    };
    this.poolSize = Math.max(1, options.poolSize ?? 2);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.throttleBackoffMs = options.throttleBackoffMs ?? 1000;
    this.defaultExpirationSeconds = options.defaultExpirationSeconds ?? 0;
    this.listener = {
      capacityChanged: () => this.drain(),
      retired: (session) => this.retire(session),
      closed: (session) => this.onSessionClosed(session),
    };
    if (options.pingIntervalMs && options.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.pingAll(), options.pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  get url(): string {
    return this.target.url;
  }

  get stats(): ApnsClientStats {
    let activeStreams = 0;
    for (const session of this.allSessions) activeStreams += session.active;
    return {
      sessions: this.pool.length,
      connectionsOpened: this.connectionsOpened,
      activeStreams,
      queued: this.queue.length - this.head,
    };
  }

  /** Sends one MDM push; never rejects for APNs or network trouble (that is an outcome), only when closed. */
  send(request: MdmPushRequest): Promise<PushOutcome> {
    if (this.closed) return Promise.reject(new ApnsClientClosedError());
    return new Promise<PushOutcome>((resolve) => {
      const job: PushJob = { request, resolve };
      if (this.head === this.queue.length) {
        const session = this.pickSession();
        if (session) {
          this.start(session, job);
          return;
        }
      }
      this.queue.push(job);
      this.ensureConnection();
    });
  }

  /** Sends and retries `retryable` outcomes (and optionally 429s) with jittered exponential backoff. */
  async sendWithRetry(request: MdmPushRequest, options: RetryOptions = {}): Promise<RetriedOutcome> {
    const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    const policy = { baseDelayMs: options.baseDelayMs ?? 200, maxDelayMs: options.maxDelayMs ?? 10_000 };
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.send(request);
      const again = outcome.kind === 'retryable' || (outcome.kind === 'throttled' && options.retryThrottled === true);
      if (!again || attempt >= maxAttempts || this.closed) return { ...outcome, attempts: attempt };
      const backoff = jitteredBackoffMs(attempt, policy);
      await wait(outcome.kind === 'throttled' ? Math.max(outcome.retryAfterMs, backoff) : backoff, options.signal);
    }
  }

  /** Stops taking pushes, fails queued ones as retryable, lets in-flight streams finish, closes connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.failQueue({ kind: 'retryable', reason: 'client closed' });
    const closing = [...this.allSessions].map(
      (pooled) =>
        new Promise<void>((resolve) => {
          if (pooled.session.closed || pooled.session.destroyed) resolve();
          else pooled.session.close(() => resolve());
        }),
    );
    await Promise.all(closing);
  }

  private pickSession(): PooledSession | undefined {
    let best: PooledSession | undefined;
    for (const session of this.pool) {
      if (session.hasCapacity && (best === undefined || session.active < best.active)) best = session;
    }
    return best;
  }

  private ensureConnection(): void {
    if (this.closed || this.pool.length >= this.poolSize) return;
    // One connection handshake at a time; a connecting session will soon bring capacity.
    for (const session of this.pool) if (!session.ready) return;
    const pooled = openPooledSession(this.target, this.listener);
    this.connectionsOpened++;
    this.pool.push(pooled);
    this.allSessions.add(pooled);
  }

  private drain(): void {
    while (this.head < this.queue.length) {
      const session = this.pickSession();
      if (!session) {
        this.ensureConnection();
        return;
      }
      const job = this.queue[this.head] as PushJob;
      this.queue[this.head++] = undefined;
      this.start(session, job);
    }
    if (this.head > 0) {
      this.queue = [];
      this.head = 0;
    }
  }

  private retire(session: PooledSession): void {
    const index = this.pool.indexOf(session);
    if (index >= 0) this.pool.splice(index, 1);
  }

  private onSessionClosed(session: PooledSession): void {
    this.allSessions.delete(session);
    if (this.closed) return;
    if (!session.ready && !this.pool.some((other) => other.ready)) {
      // The connection never came up (TLS refused, unreachable, timeout): retrying now would spin, so report it
      // to everyone waiting; sendWithRetry backs off before the next attempt.
      this.failQueue(classifyTransportError(session.lastError, 'connection failed'));
      return;
    }
    this.drain();
  }

  private failQueue(outcome: PushOutcome): void {
    const waiting = this.queue;
    const from = this.head;
    this.queue = [];
    this.head = 0;
    for (let i = from; i < waiting.length; i++) waiting[i]?.resolve(outcome);
  }

  private start(session: PooledSession, job: PushJob): void {
    const { request } = job;
    let expiration = request.expiration;
    if (expiration === undefined) {
      expiration =
        this.defaultExpirationSeconds > 0 ? Math.floor(Date.now() / 1000) + this.defaultExpirationSeconds : 0;
    }
    let stream: ClientHttp2Stream;
    try {
      stream = session.session.request(
        {
          ':method': 'POST',
          ':path': `/3/device/${request.token}`,
          'apns-topic': request.topic,
          'apns-push-type': 'mdm',
          'apns-priority': request.priority === 5 ? '5' : '10',
          'apns-expiration': String(expiration),
        },
        REQUEST_OPTIONS,
      );
    } catch (error) {
      // The session went away between the capacity check and now (for example ERR_HTTP2_GOAWAY_SESSION).
      session.usable = false;
      this.retire(session);
      job.resolve(classifyTransportError(error, 'request not started'));
      return;
    }
    session.active++;
    this.track(session, stream, job);
    stream.end(`{"mdm":${JSON.stringify(request.pushMagic)}}`);
  }

  private track(session: PooledSession, stream: ClientHttp2Stream, job: PushJob): void {
    let status = 0;
    let apnsId: string | undefined;
    let retryAfter: string | undefined;
    let body = '';
    let failure: unknown;
    let timedOut = false;
    stream.on('response', (headers: IncomingHttpHeaders) => {
      status = Number(headers[':status'] ?? 0);
      apnsId = headers['apns-id'] as string | undefined;
      retryAfter = headers['retry-after'] as string | undefined;
    });
    stream.on('data', (chunk: Buffer) => {
      body += chunk;
    });
    stream.on('error', (error: unknown) => {
      failure = error;
    });
    if (this.requestTimeoutMs > 0) {
      stream.setTimeout(this.requestTimeoutMs, () => {
        timedOut = true;
        stream.close(NGHTTP2_CANCEL);
      });
    }
    stream.on('close', () => {
      session.active--;
      const code = stream.rstCode;
      let outcome: PushOutcome;
      if (timedOut) outcome = { kind: 'retryable', reason: `timeout after ${this.requestTimeoutMs} ms` };
      else if (status !== 0 && failure === undefined && (code === undefined || code === NGHTTP2_NO_ERROR)) {
        outcome = classifyResponse(status, apnsId, body, retryAfter, this.throttleBackoffMs);
      } else if (failure !== undefined) outcome = classifyTransportError(failure, 'stream failed');
      else if (code === NGHTTP2_REFUSED_STREAM) outcome = { kind: 'retryable', reason: 'stream refused (GOAWAY)' };
      else outcome = { kind: 'retryable', reason: `stream reset (HTTP/2 error ${code})` };
      job.resolve(outcome);
      if (this.head < this.queue.length) this.drain();
    });
  }

  private pingAll(): void {
    for (const pooled of this.pool) {
      if (!pooled.ready || pooled.active > 0) continue;
      pooled.session.ping((error) => {
        if (error) pooled.session.destroy(error);
      });
    }
  }
}
