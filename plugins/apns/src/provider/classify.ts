import type { PushOutcome } from './types.js';

/** 400 reasons that mean this token is dead for this topic. */
const INVALID_TOKEN_REASONS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic']);
/** 400 reasons that come from the certificate/topic pairing, not from the device. */
const CERTIFICATE_REASONS = new Set(['TopicDisallowed', 'BadTopic', 'MissingTopic']);

interface ApnsErrorBody {
  reason?: string;
  timestamp?: number;
}

function parseErrorBody(body: string): ApnsErrorBody {
  if (!body) return {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object') {
      const { reason, timestamp } = parsed as Record<string, unknown>;
      return {
        reason: typeof reason === 'string' ? reason : undefined,
        timestamp: typeof timestamp === 'number' ? timestamp : undefined,
      };
    }
  } catch {
    // Apple always sends JSON; a proxy in the way might not.
  }
  return {};
}

/** Maps a complete APNs answer to an outcome. */
export function classifyResponse(
  status: number,
  apnsId: string | undefined,
  body: string,
  retryAfterHeader: string | undefined,
  throttleBackoffMs: number,
): PushOutcome {
  if (status === 200) return { kind: 'sent', apnsId: apnsId ?? '' };
  const { reason, timestamp } = parseErrorBody(body);
  const why = reason ?? `HTTP ${status}`;
  if (status === 410) {
    return timestamp === undefined
      ? { kind: 'invalid-token', reason: why }
      : { kind: 'invalid-token', reason: why, timestamp };
  }
  if (status === 400 && reason !== undefined) {
    if (INVALID_TOKEN_REASONS.has(reason)) return { kind: 'invalid-token', reason };
    if (CERTIFICATE_REASONS.has(reason)) return { kind: 'certificate-problem', reason };
  }
  if (status === 403) return { kind: 'certificate-problem', reason: why };
  if (status === 429) {
    const seconds = retryAfterHeader === undefined ? Number.NaN : Number(retryAfterHeader);
    return {
      kind: 'throttled',
      retryAfterMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : throttleBackoffMs,
    };
  }
  if (status >= 500) return { kind: 'retryable', reason: why };
  return { kind: 'rejected', status, reason: why };
}

/** TLS alerts the server sends when it does not accept our client certificate. */
const CERTIFICATE_ALERT = /CERTIFICATE|UNKNOWN_CA|ACCESS_DENIED|DECRYPT_ERROR/;

/** Maps a transport failure (connection, TLS, stream reset) to an outcome. */
export function classifyTransportError(error: unknown, fallback: string): PushOutcome {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : undefined;
  if (code === 'ERR_SSL_CLIENT_CERTIFICATE_REFUSED') return { kind: 'certificate-problem', reason: message ?? code };
  if (
    typeof code === 'string' &&
    code.startsWith('ERR_SSL_') &&
    code.includes('ALERT') &&
    CERTIFICATE_ALERT.test(code)
  ) {
    return { kind: 'certificate-problem', reason: `TLS: ${code}` };
  }
  const detail = typeof code === 'string' ? code : message;
  return { kind: 'retryable', reason: detail ? `${fallback}: ${detail}` : fallback };
}
