import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header names of a delivery; receivers read them case-insensitively. */
export const WEBHOOK_HEADERS = {
  id: 'Webhook-Id',
  timestamp: 'Webhook-Timestamp',
  signature: 'Webhook-Signature',
  attempt: 'Webhook-Attempt',
} as const;

/** How far a receiver should let Webhook-Timestamp drift from its clock before refusing a delivery. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Hex HMAC-SHA256 over `<timestamp>.<body>`; the exact bytes sent, so re-serialising breaks it on purpose. */
export function signPayload(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The Webhook-Signature header value: "v1=<hex>" (a comma-separated list leaves room for key rotation). */
export function signatureHeader(secret: string, timestamp: number, body: string | Buffer): string {
  return `v1=${signPayload(secret, timestamp, body)}`;
}

export type VerifyFailure = 'missing-headers' | 'stale-timestamp' | 'bad-signature';

/**
 * What a receiver does: refuse a timestamp outside the tolerance (replays of old deliveries), then compare
 * the signature in constant time. Receivers should also remember Webhook-Id for the tolerance window and
 * drop repeats, which closes the window for replays inside it.
 */
export function verifySignature(input: {
  secret: string;
  body: string | Buffer;
  timestamp: string | undefined;
  signature: string | undefined;
  nowSeconds?: number;
  toleranceSeconds?: number;
}): { ok: true } | { ok: false; reason: VerifyFailure } {
  if (!input.timestamp || !input.signature || !/^\d{1,12}$/.test(input.timestamp)) {
    return { ok: false, reason: 'missing-headers' };
  }
  const timestamp = Number(input.timestamp);
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    return { ok: false, reason: 'stale-timestamp' };
  }
  const expected = Buffer.from(signPayload(input.secret, timestamp, input.body), 'hex');
  for (const part of input.signature.split(',')) {
    const [scheme, value] = part.trim().split('=', 2);
    if (scheme !== 'v1' || !value || !/^[0-9a-f]{64}$/i.test(value)) continue;
    if (timingSafeEqual(expected, Buffer.from(value, 'hex'))) return { ok: true };
  }
  return { ok: false, reason: 'bad-signature' };
}
