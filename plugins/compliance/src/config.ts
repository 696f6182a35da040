import { z } from 'zod';
import { osVersionSchema } from './versions.js';

export const complianceConfigSchema = z.object({
  minimumIosVersion: osVersionSchema
    .optional()
    .describe('Minimum iOS version for iPhones until an admin saves a policy; unset: no minimum'),
  minimumIpadosVersion: osVersionSchema
    .optional()
    .describe('Minimum iPadOS version for iPads until an admin saves a policy; unset: no minimum'),
  blockEnrollmentWhenNonCompliant: z
    .boolean()
    .default(false)
    .describe('Refuse new enrollments of a user while one of their devices is not compliant'),
  queryOnEnrollment: z
    .boolean()
    .default(true)
    .describe('Ask every newly enrolled device for its OS version (DeviceInformation)'),
  refreshHours: z
    .number()
    .int()
    .min(0)
    .max(24 * 30)
    .default(24)
    .describe('Ask devices again when their last report is older than this; 0 never asks again'),
});

export type ComplianceConfig = z.output<typeof complianceConfigSchema>;
