import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';

/** The domain events a webhook can carry, and the ping an admin sends to test an endpoint. */
export const WEBHOOK_EVENTS = ['device.enrolled', 'device.checkedOut', 'device.unenrolled', 'command.result'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number] | 'webhook.ping';

const MIN_SECRET_LENGTH = 16;

const endpointSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, at most 40')
      .describe('Names the endpoint in dead letters, metrics and the admin API'),
    url: z.url({ protocol: /^https?$/ }),
    secret: z.string().min(MIN_SECRET_LENGTH, `at least ${MIN_SECRET_LENGTH} characters`).optional(),
    /** Docker-secrets style: a file holding the secret, read at start-up. */
    secretFile: z.string().min(1).optional(),
    events: z
      .array(z.enum(WEBHOOK_EVENTS))
      .min(1)
      .default([...WEBHOOK_EVENTS]),
    /** Plain http is refused unless set: deliveries carry device identifiers. */
    allowHttp: z.boolean().default(false),
  })
  .superRefine((endpoint, issues) => {
    if ((endpoint.secret === undefined) === (endpoint.secretFile === undefined)) {
      issues.addIssue({ code: 'custom', path: ['secret'], message: 'set exactly one of secret and secretFile' });
    }
    if (endpoint.url.startsWith('http:') && !endpoint.allowHttp) {
      issues.addIssue({ code: 'custom', path: ['url'], message: 'must be https (or set allowHttp: true)' });
    }
    if (endpoint.secretFile !== undefined && !existsSync(endpoint.secretFile)) {
      issues.addIssue({ code: 'custom', path: ['secretFile'], message: `${endpoint.secretFile} does not exist` });
    }
  })
  .transform((endpoint, issues) => {
    const secret = endpoint.secret ?? readFileSync(endpoint.secretFile as string, 'utf8').trim();
    if (secret.length < MIN_SECRET_LENGTH) {
      issues.addIssue({
        code: 'custom',
        path: ['secretFile'],
        message: `the secret in ${endpoint.secretFile} needs at least ${MIN_SECRET_LENGTH} characters`,
      });
      return z.NEVER;
    }
    return { name: endpoint.name, url: endpoint.url, secret, events: endpoint.events };
  });

export type WebhookEndpoint = z.output<typeof endpointSchema>;

export const webhooksConfigSchema = z.object({
  endpoints: z
    .array(endpointSchema)
    .default([])
    .superRefine((endpoints, issues) => {
      const seen = new Set<string>();
      for (const [index, endpoint] of endpoints.entries()) {
        if (seen.has(endpoint.name))
          issues.addIssue({ code: 'custom', path: [index, 'name'], message: `"${endpoint.name}" is used twice` });
        seen.add(endpoint.name);
      }
    })
    .meta({
      secret: true,
      description:
        'Receivers (JSON array): [{"name","url","secret" or "secretFile","events"?,"allowHttp"?}]; the whole list may come from a file with _FILE',
    }),
  maxAttempts: z.number().int().min(1).max(25).default(8).describe('Delivery attempts before a dead letter'),
  backoffMs: z
    .number()
    .int()
    .min(10)
    .max(3_600_000)
    .default(10_000)
    .describe('Delay before the first retry; doubles on every attempt'),
  timeoutMs: z.number().int().min(100).max(60_000).default(10_000).describe('How long one delivery may take'),
  concurrency: z.number().int().min(1).max(100).default(5).describe('Deliveries in flight per worker process'),
  failedSweepIntervalMs: z
    .number()
    .int()
    .min(100)
    .max(86_400_000)
    .default(60_000)
    .describe('How often deliveries BullMQ failed on its own (stalled, worker died) are moved to the dead letters'),
  deadLetterRetentionDays: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(30)
    .describe('Dead letters older than this are deleted'),
});

export type WebhooksConfig = z.output<typeof webhooksConfigSchema>;
