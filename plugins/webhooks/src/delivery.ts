import type { WebhookEndpoint, WebhookEventType } from './config.js';
import { signatureHeader, WEBHOOK_HEADERS } from './signing.js';

export const DELIVERY_QUEUE = 'webhook-deliveries';

/** One event for one endpoint. BullMQ stores it as JSON, so `data` is already JSON-safe. */
export interface DeliveryJob {
  /** `<eventId>.<endpoint>`: the job id of the first try and the dead letter's id. */
  deliveryId: string;
  eventId: string;
  endpoint: string;
  type: WebhookEventType;
  occurredAt: string;
  data: unknown;
  /** How often an admin replayed this delivery from the dead-letter list. */
  replays: number;
  /** Set once the dead letter of this try is stored, so the failed-job sweep does not store it again. */
  buried?: boolean;
}

/** The body every receiver gets. */
export interface WebhookEnvelope {
  id: string;
  type: WebhookEventType;
  occurredAt: string;
  data: unknown;
}

/** Plist results hold bytes and dates; JSON gets base64 and ISO strings instead. */
export function toJsonSafe(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, toJsonSafe(inner)]));
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function envelopeBody(job: Pick<DeliveryJob, 'eventId' | 'type' | 'occurredAt' | 'data'>): string {
  const envelope: WebhookEnvelope = { id: job.eventId, type: job.type, occurredAt: job.occurredAt, data: job.data };
  return JSON.stringify(envelope);
}

export type DeliveryResult =
  | { ok: true; status: number; durationMs: number }
  | { ok: false; status?: number; error: string; durationMs: number };

const RESPONSE_EXCERPT = 500;

/** POSTs the signed envelope once. Redirects count as failures: the signature is for this URL only. */
export async function deliverOnce(
  endpoint: WebhookEndpoint,
  job: DeliveryJob,
  attempt: number,
  timeoutMs: number,
  userAgent: string,
): Promise<DeliveryResult> {
  const body = envelopeBody(job);
  const timestamp = Math.floor(Date.now() / 1000);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': userAgent,
        [WEBHOOK_HEADERS.id]: job.eventId,
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.signature]: signatureHeader(endpoint.secret, timestamp, body),
        [WEBHOOK_HEADERS.attempt]: String(attempt),
      },
      body,
    });
    const text = await response.text().catch(() => '');
    if (response.status >= 200 && response.status < 300) {
      return { ok: true, status: response.status, durationMs: elapsed() };
    }
    const excerpt = text.slice(0, RESPONSE_EXCERPT);
    return {
      ok: false,
      status: response.status,
      error: `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`,
      durationMs: elapsed(),
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const message =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : [(error as Error).message, cause?.code ?? cause?.message].filter(Boolean).join(': ');
    return { ok: false, error: message, durationMs: elapsed() };
  }
}
