import { z } from 'zod';

const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/, 'a domain like example.com');

export const accountEnrollmentConfigSchema = z.object({
  domains: z
    .array(domain)
    .default([])
    .describe(
      'Email domains of the organisation (example.com): Settings finds the gateway at https://<domain>/.well-known/com.apple.remotemanagement, and only accounts of these domains may enroll',
    ),
  accessTokenSeconds: z
    .number()
    .int()
    .min(30)
    .max(3600)
    .default(300)
    .describe('How long the access token handed to Settings after sign-in stays valid (it is usable once)'),
  challengeSeconds: z
    .number()
    .int()
    .min(60)
    .max(3600)
    .default(900)
    .describe('How long the sign-in link of a 401 challenge stays valid'),
  discoveryMaxAgeSeconds: z
    .number()
    .int()
    .min(0)
    .max(86_400)
    .default(3600)
    .describe('Cache-Control max-age of the service discovery document'),
});

export type AccountEnrollmentConfig = z.output<typeof accountEnrollmentConfigSchema>;

/** The account-driven enrollment modes and the BaseURL path of each (discovery Version → path). */
export const MODES = {
  byod: { version: 'mdm-byod', enrollmentMode: 'BYOD' },
  adde: { version: 'mdm-adde', enrollmentMode: 'ADDE' },
} as const;
export type ModeName = keyof typeof MODES;
export const BASE_PATH = '/account-enrollment';
