import { z } from 'zod';

const DAY_MS = 86_400_000;

export const unenrollmentConfigSchema = z.object({
  acknowledgementTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(30 * DAY_MS)
    .default(DAY_MS)
    .describe('How long each group of remote commands waits for the device before it counts as unreachable'),
  pollIntervalMs: z
    .number()
    .int()
    .min(50)
    .max(DAY_MS)
    .default(60_000)
    .describe('How often a waiting unenrollment looks for answers (a device answer also wakes it at once)'),
  retryAttempts: z
    .number()
    .int()
    .min(1)
    .max(50)
    .default(8)
    .describe('Tries of a failing server-side step before the job waits for the next sweep'),
  retryBackoffMs: z
    .number()
    .int()
    .min(10)
    .max(DAY_MS)
    .default(5_000)
    .describe('First retry delay of a failing step; doubles on every attempt'),
  sweepIntervalMs: z
    .number()
    .int()
    .min(100)
    .max(DAY_MS)
    .default(300_000)
    .describe('How often unfinished unenrollments whose job is gone (Redis lost it) are queued again'),
  inactivityDays: z
    .number()
    .int()
    .min(0)
    .max(3650)
    .default(0)
    .describe('Retire devices with no check-in for this many days; 0 turns the policy off'),
  inactivityCheckIntervalMs: z
    .number()
    .int()
    .min(100)
    .max(30 * DAY_MS)
    .default(DAY_MS)
    .describe('How often the inactivity policy looks for silent devices'),
  concurrency: z.number().int().min(1).max(100).default(4).describe('Unenrollments one worker runs at once'),
  lockDurationMs: z
    .number()
    .int()
    .min(500)
    .max(600_000)
    .default(30_000)
    .describe('How long a job stays locked to a worker that stopped answering, before another takes it over'),
});

export type UnenrollmentConfig = z.output<typeof unenrollmentConfigSchema>;
