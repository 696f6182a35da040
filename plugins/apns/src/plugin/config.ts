import { z } from 'zod';

const int = (min: number, max: number, fallback: number) => z.number().int().min(min).max(max).default(fallback);

export const apnsConfigSchema = z.object({
  endpoint: z
    .string()
    .refine((value) => value === 'production' || value === 'development' || /^https:\/\/\S+$/.test(value), {
      message: "expected 'production', 'development' or an https:// URL",
    })
    .default('production')
    .describe("APNs provider API: 'production', 'development', or an https URL (a test stand-in)"),
  caFile: z
    .string()
    .optional()
    .describe("PEM file of extra trust anchors for the endpoint (tests); Node's bundled roots otherwise"),
  poolSize: int(1, 16, 2).describe('Long-lived HTTP/2 connections to APNs per worker process'),
  maxStreamsPerSession: int(1, 5000, 1000).describe('Concurrent pushes per connection, below what APNs allows'),
  requestTimeoutMs: int(1000, 120_000, 10_000).describe('Time limit for one push before it is retried'),
  expirationSeconds: int(0, 2_592_000, 86_400).describe(
    'How long APNs keeps a push for an offline device (apns-expiration); 0 = deliver once',
  ),
  coalesceMs: int(0, 60_000, 250).describe('Wakes of one device within this window become one push'),
  batchSize: int(1, 5000, 1000).describe('Devices per push job (one target lookup, then concurrent sends)'),
  concurrency: int(1, 64, 4).describe('Push jobs one worker process runs at once'),
  rateLimitPerSecond: int(0, 1_000_000, 0).describe('Global cap on pushes per second across all workers; 0 = none'),
  sendAttempts: int(1, 10, 4).describe('Tries per push for 5xx, GOAWAY and dropped connections, in-process'),
  retryBaseDelayMs: int(10, 60_000, 200).describe('First backoff ceiling between tries (doubles, full jitter)'),
  retryMaxDelayMs: int(100, 300_000, 5_000).describe('Longest wait between tries'),
  requeueDelaySeconds: int(1, 3600, 30).describe('When every try failed, wake the device again after this long'),
  sweepIntervalSeconds: int(10, 86_400, 300).describe('How often devices with pending commands are re-woken'),
  sweepAfterMinutes: int(1, 10_080, 15).describe('Re-wake devices with pending commands silent this long'),
  sweepLimit: int(1, 1_000_000, 10_000).describe('Most devices one sweep re-wakes'),
  expiryCheckHours: int(1, 168, 24).describe('How often the push certificate expiry is checked'),
  healthWindowMinutes: int(1, 1440, 60).describe(
    'Recent window of push outcomes the certificate page and the setup checklist judge (failing when at least as many failed as went through)',
  ),
  failureLogIntervalSeconds: int(0, 3600, 60).describe(
    'Failed pushes are logged at once, then summed into one line per this interval (counts by reason, examples)',
  ),
  lockDurationMs: int(500, 600_000, 30_000).describe("BullMQ job lock; a dead worker's jobs are retaken after it"),
  stalledIntervalMs: int(500, 600_000, 30_000).describe('How often workers look for jobs of dead workers'),
  maxStalledCount: int(0, 100, 2).describe('Times a job may be retaken from dead workers before it fails'),
});

export type ApnsConfig = z.output<typeof apnsConfigSchema>;
