import { randomBytes, randomUUID } from 'node:crypto';
import type { EnrollmentIdentityContributor, EnrollmentIdentityRequest } from 'enrollment-gateway/sdk';
import type { ClientIdDoc, IdentityRecords } from '../storage/records.js';
import { hashClientId } from './acme-service.js';

/** The key Apple's ACME payload asks the Secure Enclave for: P-384 (ECSECPrimeRandom 384), hardware-bound. */
export const ACME_KEY = { type: 'ECSECPrimeRandom', size: 384 } as const;

export interface IdentityPayloadSettings {
  publicUrl: string;
  defaultIdentity: 'acme-preferred' | 'scep-only';
  minimumOsVersion: number;
  clientIdentifierTtlSeconds: number;
}

/** com.apple.security.acme with a one-time ClientIdentifier recorded for the enrollment (or its renewal). */
export function acmePayload(
  publicUrl: string,
  clientIdentifier: string,
  enrollmentId: string,
): Record<string, unknown> {
  return {
    PayloadType: 'com.apple.security.acme',
    PayloadVersion: 1,
    PayloadIdentifier: `com.apple.security.acme.${enrollmentId}`,
    PayloadUUID: randomUUID().toUpperCase(),
    PayloadDisplayName: 'Device identity',
    DirectoryURL: `${publicUrl}/acme/directory`,
    ClientIdentifier: clientIdentifier,
    KeyType: ACME_KEY.type,
    KeySize: ACME_KEY.size,
    HardwareBound: true,
    Attest: true,
    Subject: [[['CN', `enrollment-${enrollmentId}`]]],
    // 1 = signing: the identity signs check-ins (Mdm-Signature); an EC key does not encrypt.
    UsageFlags: 1,
    ExtendedKeyUsage: ['1.3.6.1.5.5.7.3.2'],
  };
}

/** Decides per device and profile whether the enrollment profile carries ACME (iOS/iPadOS 16+) or stays on SCEP. */
export class IdentityPayloads implements EnrollmentIdentityContributor {
  constructor(
    private readonly records: IdentityRecords,
    private readonly settings: IdentityPayloadSettings,
  ) {}

  async identityPayload(request: EnrollmentIdentityRequest): Promise<Record<string, unknown> | undefined> {
    if (request.platform !== 'iOS' && request.platform !== 'iPadOS') return undefined;
    const major = Number.parseInt(request.osVersion ?? '', 10);
    if (!Number.isInteger(major) || major < this.settings.minimumOsVersion) return undefined;
    const choice = request.profileId ? await this.records.profileChoice(request.profileId) : undefined;
    if ((choice ?? this.settings.defaultIdentity) === 'scep-only') return undefined;
    const clientIdentifier = await this.mint({ enrollmentId: request.enrollmentId, purpose: 'enrollment' });
    return acmePayload(this.settings.publicUrl, clientIdentifier, request.enrollmentId);
  }

  /** Records a new ClientIdentifier (only its hash is kept) and returns it. */
  async mint(target: Pick<ClientIdDoc, 'enrollmentId' | 'purpose' | 'udid' | 'serialNumber'>): Promise<string> {
    const clientIdentifier = randomBytes(32).toString('base64url');
    const now = new Date();
    await this.records.createClientId({
      _id: hashClientId(clientIdentifier),
      ...target,
      expiresAt: new Date(now.getTime() + this.settings.clientIdentifierTtlSeconds * 1000),
      createdAt: now,
    });
    return clientIdentifier;
  }
}
