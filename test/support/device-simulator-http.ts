/**
 * Transport and key material for the device simulator: keep-alive HTTP with public→local URL rewriting, and a
 * pool of RSA key pairs so a fleet does not pay ~50-100 ms of key generation per device.
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export interface RsaKeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

/** Why the simulator gave up; e2e tests assert on `reason` rather than on message text. */
export type SimulatorFailureReason =
  | 'http'
  | 'profile-content-type'
  | 'profile-unsigned'
  | 'profile-untrusted'
  | 'profile-invalid'
  | 'not-ready'
  | 'scep-ca'
  | 'scep-failure'
  | 'scep-pending'
  | 'acme-refused'
  | 'bad-command'
  | 'too-many-commands'
  | 'mint';

export class DeviceSimulatorError extends Error {
  constructor(
    readonly reason: SimulatorFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A response the protocol does not allow (non-200, or a body where none belongs). Carries what the server said. */
export class DeviceHttpError extends DeviceSimulatorError {
  constructor(
    readonly phase: ExchangePhase,
    readonly status: number,
    readonly body: Buffer,
    readonly url: string,
  ) {
    super(
      'http',
      `${phase}: HTTP ${status} from ${url}${body.length ? `: ${body.toString('utf8').slice(0, 300)}` : ''}`,
    );
  }

  get bodyText(): string {
    return this.body.toString('utf8');
  }
}

export type ExchangePhase = 'profile' | 'scep' | 'acme' | 'checkin' | 'command' | 'mint';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL actually requested (after rewriting). */
  url: string;
  durationMs: number;
}

export interface HttpRequestOptions {
  method: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: Buffer;
  /** Largest response accepted; a misbehaving server cannot exhaust test memory. */
  maxResponseBytes?: number;
  timeoutMs?: number;
}

// One pool per protocol for the whole process: enrolling many devices against one server reuses connections.
const sharedHttpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const sharedHttpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * Maps URLs the server wrote into profiles (its public https URL) to where it actually listens in a test.
 * Only whole prefixes match: `https://gateway.test` rewrites `https://gateway.test/mdm` but not
 * `https://gateway.test.evil.example/`.
 */
export function rewriteUrl(url: string, publicUrl: string | undefined, baseUrl: string): string {
  if (!publicUrl) return url;
  const from = publicUrl.replace(/\/+$/, '');
  const to = baseUrl.replace(/\/+$/, '');
  if (url === from) return to;
  const next = url.charAt(from.length);
  if (url.startsWith(from) && (next === '/' || next === '?' || next === '#')) return to + url.slice(from.length);
  return url;
}

export class DeviceHttpClient {
  constructor(
    readonly baseUrl: string,
    readonly publicUrl: string | undefined,
    private readonly agents: { http?: http.Agent; https?: https.Agent } = {},
  ) {}

  resolve(url: string): string {
    return rewriteUrl(url, this.publicUrl, this.baseUrl);
  }

  request(url: string, options: HttpRequestOptions): Promise<HttpResult> {
    const target = new URL(this.resolve(url));
    const isHttps = target.protocol === 'https:';
    const transport = isHttps ? https : http;
    const agent = isHttps ? (this.agents.https ?? sharedHttpsAgent) : (this.agents.http ?? sharedHttpAgent);
    const maxBytes = options.maxResponseBytes ?? 8 * 1024 * 1024;
    const headers: Record<string, string> = { ...options.headers };
    if (options.body) headers['content-length'] = String(options.body.length);
    const started = performance.now();
    return new Promise<HttpResult>((resolve, reject) => {
      const req = transport.request(target, { method: options.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy(new Error(`response from ${target.href} exceeds ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            url: target.href,
            durationMs: performance.now() - started,
          }),
        );
      });
      req.setTimeout(options.timeoutMs ?? 30_000, () =>
        req.destroy(new Error(`${options.method} ${target.href} timed out`)),
      );
      req.on('error', reject);
      req.end(options.body);
    });
  }
}

export function generateRsaKeyPair(modulusLength = 2048): Promise<RsaKeyPair> {
  return new Promise((resolve, reject) => {
    // Async generation runs on libuv's thread pool, so a pool refill does not block the event loop.
    generateKeyPair('rsa', { modulusLength }, (error, publicKey, privateKey) =>
      error ? reject(error) : resolve({ publicKey, privateKey }),
    );
  });
}

export interface RsaKeyPoolOptions {
  /** Keys kept ready (unique mode) or the fixed set handed out round-robin (reuse mode). Default 8. */
  size?: number;
  /**
   * true: hand out the same `size` keys round-robin (fastest; several devices share a key, which servers rarely
   * care about). false: every key is used once and the pool refills in the background.
   */
  reuse?: boolean;
  modulusLength?: number;
}

/** Pre-generated RSA key pairs for simulated devices. */
export class RsaKeyPool {
  readonly size: number;
  readonly reuse: boolean;
  readonly modulusLength: number;
  private readonly ready: Promise<RsaKeyPair>[] = [];
  private fixed: Promise<RsaKeyPair[]> | undefined;
  private nextIndex = 0;

  constructor(options: RsaKeyPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? 8);
    this.reuse = options.reuse ?? false;
    this.modulusLength = options.modulusLength ?? 2048;
  }

  /** Starts generating now so the first `take()` calls do not wait. */
  warm(): Promise<void> {
    if (this.reuse) return this.fixedKeys().then(() => undefined);
    while (this.ready.length < this.size) this.ready.push(this.generate());
    return Promise.all(this.ready).then(() => undefined);
  }

  async take(): Promise<RsaKeyPair> {
    if (this.reuse) {
      const keys = await this.fixedKeys();
      return keys[this.nextIndex++ % keys.length];
    }
    const next = this.ready.shift() ?? this.generate();
    while (this.ready.length < this.size) this.ready.push(this.generate());
    return next;
  }

  private fixedKeys(): Promise<RsaKeyPair[]> {
    this.fixed ??= Promise.all(Array.from({ length: this.size }, () => this.generate()));
    return this.fixed;
  }

  private generate(): Promise<RsaKeyPair> {
    const pending = generateRsaKeyPair(this.modulusLength);
    // A rejected key that is never taken must not become an unhandled rejection.
    pending.catch(() => undefined);
    return pending;
  }
}

/** Value at quantile q (0..1) of an ascending-sorted list; nearest-rank method. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}
