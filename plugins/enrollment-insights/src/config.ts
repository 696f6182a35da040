import { z } from 'zod';

export const insightsConfigSchema = z.object({
  retentionDays: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(180)
    .describe('How long enrollment attempts and their daily counts are kept; older ones are deleted by the sweep'),
  sweepIntervalMs: z
    .number()
    .int()
    .min(200)
    .default(60_000)
    .describe(
      'How often the sweep folds new steps into the daily counts, looks at open sessions (expired, ready) and prunes',
    ),
  installGraceSeconds: z
    .number()
    .int()
    .min(0)
    .default(600)
    .describe(
      'After a session expires, how long the sweep waits for the device before it records "not installed in time"',
    ),
  readinessWaitMinutes: z
    .number()
    .int()
    .min(1)
    .default(24 * 60)
    .describe('How long after enrollment an attempt waits for the Authenticator and "ready for work" before it closes'),
});

export type InsightsConfig = z.output<typeof insightsConfigSchema>;
