import { reverseDnsIdentifier } from 'enrollment-gateway/sdk';
import { z } from 'zod';

export const mdmConfigSchema = z.object({
  organizationName: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe('Deprecated: set organizationName at the top level (one name for every plugin); overrides it here'),
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
  presenceFlushSeconds: z
    .number()
    .int()
    .min(1)
    .max(600)
    .default(60)
    .describe(
      "How often the work role writes devices' last check-in times from Redis to the database (also their precision, up to a minute)",
    ),
});

export type MdmConfig = z.output<typeof mdmConfigSchema>;

/** "https://mdm.example.com" → "com.example.mdm.enrollment"; an IP address → "local.ip-10-0-0-5.enrollment". */
export function defaultProfileIdentifier(publicUrl: string): string {
  return reverseDnsIdentifier(publicUrl, 'enrollment');
}
