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
});

export type DdmConfig = z.output<typeof ddmConfigSchema>;
