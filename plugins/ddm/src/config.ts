import { z } from 'zod';

export const ddmConfigSchema = z.object({
  syncOnEnrollment: z
    .boolean()
    .default(true)
    .describe('Send the DeclarativeManagement command to every newly enrolled device that supports DDM (iOS 15+)'),
  contributionTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(30_000)
    .default(3000)
    .describe("Longest wait for a plugin's declarations; past it the device is told to sync later"),
  resyncBatch: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(500)
    .describe('Devices compared per step when the settings change'),
  setCacheSeconds: z
    .number()
    .int()
    .min(0)
    .max(86_400)
    .default(300)
    .describe(
      "How long a device's computed declaration set is kept in Redis for its syncs (re-syncs replace it at once); 0 computes it on every request",
    ),
});

export type DdmConfig = z.output<typeof ddmConfigSchema>;
