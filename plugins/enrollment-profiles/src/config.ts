import { z } from 'zod';

/** Intune's ceiling: no user may have more than 15 enrolled devices. */
export const MAX_DEVICE_LIMIT = 15;

export const enrollmentProfilesConfigSchema = z.object({
  defaultDeviceLimit: z
    .number()
    .int()
    .min(1)
    .max(MAX_DEVICE_LIMIT)
    .default(MAX_DEVICE_LIMIT)
    .describe('Active devices a user may have unless a group limit policy says otherwise (at most 15)'),
  refreshIntervalSeconds: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(30)
    .describe('How often each replica checks for profile changes it missed on Redis pub/sub (0 = never)'),
});

export type EnrollmentProfilesConfig = z.output<typeof enrollmentProfilesConfigSchema>;
