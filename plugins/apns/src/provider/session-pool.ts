import http2, { type ClientHttp2Session, type Settings } from 'node:http2';

/** One long-lived HTTP/2 connection to APNs and the stream budget the server allows on it. */
export class PooledSession {
  /** Streams we have open on this connection. */
  active = 0;
  /** Streams we may have open: the server's SETTINGS_MAX_CONCURRENT_STREAMS (capped); 0 until it arrives. */
  limit = 0;
  /** False once the connection received GOAWAY, failed or closed: no new streams go here. */
  usable = true;
  /** True once the server's SETTINGS arrived, i.e. TLS (including our client certificate) was accepted. */
  ready = false;
  /** TLS handshake finished (from our side: with TLS 1.3 the server may still refuse our certificate after this). */
  tlsConnected = false;
  lastError: unknown;

  constructor(readonly session: ClientHttp2Session) {}

  get hasCapacity(): boolean {
    return this.usable && this.active < this.limit;
  }
}

export interface SessionTarget {
  url: string;
  certPem: string;
  keyPem: string;
  ca?: string | string[];
  maxStreamsPerSession: number;
  connectTimeoutMs: number;
}

export interface SessionListener {
  /** The server (re)announced its settings: capacity may have grown. */
  capacityChanged(session: PooledSession): void;
  /** GOAWAY, error or close: the session must leave the pool. Fires once. */
  retired(session: PooledSession): void;
  /** The connection is gone for good (after all its streams closed). */
  closed(session: PooledSession): void;
}

// Before SETTINGS arrive RFC 9113 allows unlimited streams; Node reports 2^32-1 when a server omits the setting.
const UNLIMITED_STREAMS = 0xffffffff;

/** The server hung up right after the TLS handshake, before HTTP/2 started: our client certificate was refused. */
export class CertificateRefusedError extends Error {
  readonly code = 'ERR_SSL_CLIENT_CERTIFICATE_REFUSED';
  constructor() {
    super('server closed the connection after the TLS handshake, before HTTP/2 SETTINGS (client certificate refused)');
    this.name = 'CertificateRefusedError';
  }
}

/** Connects one session and wires its lifecycle to the pool's listener. */
export function openPooledSession(target: SessionTarget, listener: SessionListener): PooledSession {
  const session = http2.connect(target.url, {
    cert: target.certPem,
    key: target.keyPem,
    ca: target.ca,
    // Apple allows ~1000 streams per connection; nghttp2's default 10 MB budget can trip under that load.
    maxSessionMemory: 64,
    settings: { enablePush: false },
  });
  const pooled = new PooledSession(session);

  const connectTimer = setTimeout(() => {
    pooled.lastError = new Error(`no HTTP/2 SETTINGS from ${target.url} within ${target.connectTimeoutMs} ms`);
    session.destroy();
  }, target.connectTimeoutMs);
  connectTimer.unref();

  let retired = false;
  const retire = (): void => {
    if (retired) return;
    retired = true;
    pooled.usable = false;
    listener.retired(pooled);
  };

  session.on('remoteSettings', (settings: Settings) => {
    clearTimeout(connectTimer);
    const advertised = settings.maxConcurrentStreams ?? UNLIMITED_STREAMS;
    pooled.limit = Math.min(advertised, target.maxStreamsPerSession);
    pooled.ready = true;
    if (pooled.usable) listener.capacityChanged(pooled);
  });
  session.on('connect', () => {
    pooled.tlsConnected = true;
  });
  session.on('goaway', retire);
  session.on('error', (error: unknown) => {
    pooled.lastError = error;
    retire();
  });
  session.on('close', () => {
    clearTimeout(connectTimer);
    if (pooled.tlsConnected && !pooled.ready && pooled.lastError === undefined) {
      // TLS 1.3 checks the client certificate after the client considers the handshake done; a refusal then
      // shows up as the server hanging up before its SETTINGS, and the alert is not surfaced by node's http2.
      pooled.lastError = new CertificateRefusedError();
    }
    retire();
    listener.closed(pooled);
  });
  return pooled;
}
