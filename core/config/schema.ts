import { z } from 'zod';

/** Marks a setting whose value must never be printed or logged. */
export function secret<T extends z.ZodType>(schema: T, description: string): T {
  return schema.meta({ secret: true, description }) as T;
}

const base64Key = z
  .string()
  .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 random bytes, base64-encoded');

export const coreConfigSchema = z
  .object({
    publicUrl: z
      .url()
      .refine((value) => !value.endsWith('/'), 'must not end with "/"')
      .default('https://localhost:8443')
      .describe('External https URL of the gateway, as devices and browsers reach it (behind the TLS proxy)'),
    http: z
      .object({
        host: z.string().default('0.0.0.0').describe('Interface the HTTP server listens on'),
        port: z.number().int().min(0).max(65535).default(8080).describe('Port the HTTP server listens on'),
        trustProxy: z.boolean().default(false).describe('Trust X-Forwarded-* headers from the reverse proxy'),
        maxProxyHops: z.number().int().min(0).default(1).describe('How many proxies to trust in X-Forwarded-For'),
        bodyLimitBytes: z.number().int().positive().default(1_048_576).describe('Largest request body accepted'),
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
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(9464)
          .describe('Port of /healthz, /readyz and /metrics in the work role'),
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
