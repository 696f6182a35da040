import { reverseDnsIdentifier } from 'enrollment-gateway/sdk';
import { z } from 'zod';

export const jitConfigSchema = z.object({
  profileIdentifierBase: z
    .string()
    .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/)
    .optional()
    .describe('Reverse-DNS base of the SSO profile identifier; defaults to one derived from publicUrl'),
  organizationName: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe('Deprecated: set organizationName at the top level (one name for every plugin); overrides it here'),
  nationalClouds: z
    .boolean()
    .default(false)
    .describe('Add the Microsoft national-cloud sign-in URLs (China, US Government) to the default SSO policy'),
  appPrefixAllowList: z
    .string()
    .default('com.apple.')
    .describe('Default comma-separated bundle-id prefixes of apps the SSO extension serves without MSAL'),
  readinessAttempts: z
    .number()
    .int()
    .min(1)
    .max(50)
    .default(10)
    .describe('Checks for a managed Authenticator before a device needs attention'),
  readinessBackoffMs: z
    .number()
    .int()
    .min(10)
    .max(3_600_000)
    .default(30_000)
    .describe('First readiness retry delay; doubles on every attempt'),
});

export type JitConfig = z.output<typeof jitConfigSchema>;

/** "https://mdm.example.com" → "com.example.mdm.jit"; an IP address → "local.ip-10-0-0-5.jit". */
export function defaultProfileIdentifierBase(publicUrl: string): string {
  return reverseDnsIdentifier(publicUrl, 'jit');
}
