/** Apple's provider API hosts; MDM push certificates work against production. */
export const APNS_ENDPOINTS = {
  production: 'https://api.push.apple.com',
  development: 'https://api.sandbox.push.apple.com',
} as const;

export type ApnsEnvironment = keyof typeof APNS_ENDPOINTS;

export interface MdmPushRequest {
  /** Device token as hex (64 characters for current devices). */
  token: string;
  /** PushMagic from the device's TokenUpdate; goes into the `{"mdm": ...}` payload. */
  pushMagic: string;
  /** apns-topic: the push certificate's subject UID (com.apple.mgmt.External.<uuid>). */
  topic: string;
  /** Unix seconds after which APNs may drop the push; 0 means try once. Defaults to the client's setting. */
  expiration?: number;
  /** 10 = immediately, 5 = power-considerate. Defaults to 10. */
  priority?: 10 | 5;
}

/** What happened to one push; callers switch on `kind`. */
export type PushOutcome =
  | { kind: 'sent'; apnsId: string }
  /** The token will never work again (400 BadDeviceToken / DeviceTokenNotForTopic, 410 Unregistered). */
  | { kind: 'invalid-token'; reason: string; timestamp?: number }
  /** The push certificate or topic is wrong (403, topic errors, TLS alerts about our certificate). */
  | { kind: 'certificate-problem'; reason: string }
  /** 429: slow down for this device. */
  | { kind: 'throttled'; retryAfterMs: number }
  /** Worth retrying later: 5xx, GOAWAY, dropped connection, stream reset, timeout. */
  | { kind: 'retryable'; reason: string }
  /** Any other 4xx: a bug in the request; retrying will not help. */
  | { kind: 'rejected'; status: number; reason: string };

export type PushOutcomeKind = PushOutcome['kind'];

export interface ApnsClientOptions {
  /** 'production', 'development', or a full URL (tests use the local stand-in). */
  endpoint: ApnsEnvironment | string;
  /** Push certificate and its private key, PEM. */
  certPem: string;
  keyPem: string;
  /** Extra trust anchors for the endpoint (test CA); Node's bundled roots otherwise. */
  ca?: string | string[];
  /** Long-lived HTTP/2 connections to keep (default 2). */
  poolSize?: number;
  /** Upper bound on streams per connection, below what the server advertises (default 1000). */
  maxStreamsPerSession?: number;
  /** Per-push time limit before it is cancelled and reported retryable (default 10 s). */
  requestTimeoutMs?: number;
  /** Time to get TLS up and the server's SETTINGS (default 10 s). */
  connectTimeoutMs?: number;
  /** Used for 429 answers without a Retry-After header (default 1 s). */
  throttleBackoffMs?: number;
  /** apns-expiration when the request has none, as seconds from now (default 0: deliver once, do not store). */
  defaultExpirationSeconds?: number;
  /** Sends an HTTP/2 PING on idle connections at this interval; 0 disables (default 0). */
  pingIntervalMs?: number;
}

export interface RetryOptions {
  /** Total tries including the first (default 5). */
  maxAttempts?: number;
  /** First backoff ceiling (default 200 ms); doubles each attempt. */
  baseDelayMs?: number;
  /** Cap on any single wait (default 10 s). */
  maxDelayMs?: number;
  /** Also wait and retry 429 answers (default false: report them to the caller). */
  retryThrottled?: boolean;
  signal?: AbortSignal;
}

export type RetriedOutcome = PushOutcome & { attempts: number };
