import { z } from 'zod';

/** Marks a setting whose value must never be printed or logged. */
export function secret<T extends z.ZodType>(schema: T, description: string): T {
  return schema.meta({ secret: true, description }) as T;
}

const base64Key = z
  .string()
  .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 random bytes, base64-encoded');

function rateRule(points: number, windowSeconds: number, what: string) {
  return z
    .object({
      points: z.number().int().positive().default(points).describe(`${what} allowed per window`),
      windowSeconds: z.number().int().positive().default(windowSeconds).describe('Length of the window, in seconds'),
    })
    .strict()
    .prefault({});
}

function ratePolicy(perClient: [number, number, string], perKey: [number, number, string]) {
  return z
    .object({ perClient: rateRule(...perClient), perKey: rateRule(...perKey) })
    .strict()
    .prefault({});
}

export const coreConfigSchema = z
  .object({
    publicUrl: z
      .url()
      .refine((value) => !value.endsWith('/'), 'must not end with "/"')
      .default('https://localhost:8443')
      .describe('External https URL of the gateway, as devices and browsers reach it (behind the TLS proxy)'),
    organizationName: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .default('Your organization')
      .describe('Organisation name shown in the portal, the admin center, profiles and certificates (every plugin)'),
    http: z
      .object({
        host: z.string().default('0.0.0.0').describe('Interface the HTTP server listens on'),
        port: z.number().int().min(0).max(65535).default(8080).describe('Port the HTTP server listens on'),
        trustProxy: z.boolean().default(false).describe('Trust X-Forwarded-* headers from the reverse proxy'),
        maxProxyHops: z.number().int().min(0).default(1).describe('How many proxies to trust in X-Forwarded-For'),
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(1_048_576)
          .describe('Largest request body of a route family that declares no limit of its own'),
        shutdownGraceMs: z
          .number()
          .int()
          .positive()
          .default(25_000)
          .describe('How long SIGTERM waits for in-flight requests and jobs'),
      })
      .strict()
      .prefault({}),
    mongodb: z
      .object({
        uri: secret(
          z.string().min(1).default('mongodb://127.0.0.1:27017/gateway'),
          'MongoDB connection string (alias: MONGODB_URI)',
        ),
        serverSelectionTimeoutMs: z.number().int().positive().default(5_000).describe('Give up connecting after'),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: secret(z.string().min(1).default('redis://127.0.0.1:6379'), 'Redis URL (alias: REDIS_URL)'),
        prefix: z
          .string()
          .regex(/^[a-z0-9-]+$/)
          .default('gw')
          .describe('Prefix of every Redis key and BullMQ queue of this gateway'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    security: z
      .object({
        masterKey: secret(
          base64Key.optional(),
          'Key that encrypts private keys and secrets at rest: 32 random bytes, base64 (openssl rand -base64 32)',
        ),
        previousMasterKeys: secret(
          z.array(base64Key).default([]),
          'Older master keys still accepted for decryption during a rotation (JSON array)',
        ),
      })
      .strict()
      .prefault({}),
    ops: z
      .object({
        host: z
          .string()
          .default('0.0.0.0')
          .describe('Interface of the ops listener (/healthz, /readyz, /metrics); never route it through the proxy'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(9464)
          .describe('Port of the ops listener (/healthz, /readyz, /metrics), in every role'),
        metricsToken: secret(
          z.string().min(16).optional(),
          'When set, /metrics requires "Authorization: Bearer <token>" (Prometheus bearer_token)',
        ),
      })
      .strict()
      .prefault({}),
    events: z
      .object({
        concurrency: z.number().int().positive().default(8).describe('Event deliveries one worker runs at once'),
        handlerTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(10_000)
          .describe('A handler still running after this counts as failed and is retried'),
        attempts: z.number().int().positive().default(8).describe('Tries of one delivery before the sweep takes over'),
        backoffMs: z.number().int().positive().default(1_000).describe('First retry delay; doubles on each retry'),
        lockDurationMs: z
          .number()
          .int()
          .positive()
          .default(30_000)
          .describe('A delivery whose worker died is run again after about this long'),
        sweepIntervalMs: z
          .number()
          .int()
          .positive()
          .default(60_000)
          .describe('How often recorded events without a delivery are queued again'),
        redeliverAfterMs: z
          .number()
          .int()
          .positive()
          .default(60_000)
          .describe('Age of an event before the sweep looks at it'),
        giveUpAfterMs: z
          .number()
          .int()
          .positive()
          .default(3_600_000)
          .describe('Age after which the sweep stops retrying an undelivered event (logged as given up)'),
        sweepBatch: z.number().int().positive().default(500).describe('Events the sweep looks at per pass'),
        retentionDays: z
          .number()
          .positive()
          .default(7)
          .describe('Recorded events and delivery markers older than this are deleted'),
      })
      .strict()
      .prefault({}),
    rateLimits: z
      .object({
        enabled: z.boolean().default(true).describe('Count and refuse over-limit requests (429 with Retry-After)'),
        signIn: ratePolicy(
          [30, 60, 'Sign-in requests from one client'],
          [10, 60, 'Sign-in completions of one attempt or account'],
        ),
        apiKey: ratePolicy([20, 60, 'Refused API keys from one client'], [10, 60, 'Refused tries of one API key id']),
        enrollmentLink: ratePolicy(
          [30, 60, 'Enrollment link downloads from one client'],
          [10, 60, 'Downloads of one enrollment link'],
        ),
        scep: ratePolicy([120, 60, 'SCEP PKIOperations from one client'], [10, 60, 'SCEP requests of one transaction']),
        device: ratePolicy(
          [3_000, 60, 'Device check-ins and polls from one client (many devices may share one NAT)'],
          [120, 60, 'Check-ins and polls of one device identity'],
        ),
      })
      .strict()
      .prefault({}),
    pluginPackages: z
      .array(z.string().min(1))
      .default([])
      .describe('npm package names of extra plugins to load (JSON array)'),
    plugins: z
      .record(z.string(), z.record(z.string(), z.unknown()))
      .default({})
      .describe('Per-plugin settings; each has "enabled" plus the plugin\'s own keys'),
  })
  .strict();

export type CoreConfig = z.output<typeof coreConfigSchema>;
