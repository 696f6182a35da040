import { z } from 'zod';

export const mdmConfigSchema = z.object({
  organizationName: z
    .string()
    .min(1)
    .max(100)
    .default('Enrollment Gateway')
    .describe('Shown in the management profile'),
  profileIdentifier: z
    .string()
    .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/)
    .optional()
    .describe('Reverse-DNS identifier of the enrollment profile; defaults to one derived from publicUrl'),
  enrollmentSessionTtlSeconds: z
    .number()
    .int()
    .min(120)
    .max(3600)
    .default(900)
    .describe('How long a downloaded profile can be installed (iOS deletes it after 8 minutes)'),
  deviceCertificateValidityDays: z.number().int().min(30).max(825).default(365).describe('Device identity lifetime'),
  maxDeviceBodyBytes: z
    .number()
    .int()
    .min(16_384)
    .max(8_388_608)
    .default(2_097_152)
    .describe('Largest check-in or command report accepted'),
  commandRetentionDays: z.number().int().min(1).max(3650).default(90).describe('Answered commands kept in history'),
});

export type MdmConfig = z.output<typeof mdmConfigSchema>;

/** "https://mdm.example.com" → "com.example.mdm.enrollment". */
export function defaultProfileIdentifier(publicUrl: string): string {
  const host = new URL(publicUrl).hostname.replace(/[^A-Za-z0-9.-]/g, '-');
  const parts = host.split('.').filter(Boolean).reverse();
  return [...(parts.length > 1 ? parts : ['local', ...parts]), 'enrollment'].join('.');
}
