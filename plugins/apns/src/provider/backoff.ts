import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * "Full jitter" exponential backoff: a uniform wait in [0, min(max, base * 2^(attempt-1))].
 * Spreads the retries of many devices that failed together (one GOAWAY drops hundreds of streams at once).
 */
export function jitteredBackoffMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Waits `ms`, or rejects with the signal's reason when aborted. */
export function wait(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 && !signal?.aborted) return Promise.resolve();
  return sleep(ms, undefined, signal ? { signal } : undefined);
}
