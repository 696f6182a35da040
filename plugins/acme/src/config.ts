import { z } from 'zod';
import { APPLE_ENTERPRISE_ATTESTATION_ROOT_PEM } from './protocol/apple-root.js';

export const acmeConfigSchema = z.object({
  attestationRootsPem: z
    .string()
    .optional()
    .describe('PEM certificates device-attest-01 chains must end in; unset: Apple Enterprise Attestation Root CA'),
  defaultIdentity: z
    .enum(['acme-preferred', 'scep-only'])
    .default('acme-preferred')
    .describe('Identity of enrollment profiles without a choice of their own'),
  minimumOsVersion: z
    .number()
    .int()
    .min(16)
    .default(16)
    .describe('iOS/iPadOS major version from which a device gets an attested ACME identity'),
  nonceTtlSeconds: z.number().int().positive().default(600).describe('How long a Replay-Nonce stays usable'),
  orderTtlSeconds: z.number().int().positive().default(3600).describe('How long an order may take'),
  clientIdentifierTtlSeconds: z
    .number()
    .int()
    .positive()
    .default(86_400)
    .describe('How long a ClientIdentifier handed out in a profile stays usable'),
  attestPropertiesOnEnrollment: z
    .boolean()
    .default(true)
    .describe('Ask every iOS/iPadOS 16+ device to attest its properties (DevicePropertiesAttestation) once enrolled'),
  renewalWindowDays: z
    .number()
    .int()
    .min(0)
    .default(30)
    .describe('Deliver a renewal to devices whose attested ACME identity expires within this many days (0: never)'),
});
export type AcmeConfig = z.infer<typeof acmeConfigSchema>;

/** The configured trust anchors, or Apple's root. */
export const attestationRoots = (config: AcmeConfig): string =>
  config.attestationRootsPem ?? APPLE_ENTERPRISE_ATTESTATION_ROOT_PEM;
