import { GatewayError } from '../errors.js';
import { createExtensionPoint, createServiceRef } from '../refs.js';
import type { DevicePlatform } from './enrollment.js';

/** Who downloads an enrollment profile, as the download request tells it (User-Agent and client hints). */
export interface EnrollmentIdentityRequest {
  enrollmentId: string;
  userId: string;
  /** The enrollment profile chosen for the user when the session was created. */
  profileId?: string;
  platform: DevicePlatform;
  /** "17.4.1" when the User-Agent carries it. */
  osVersion?: string;
}

/**
 * Supplies the payload that gives the device its MDM identity (the one com.apple.mdm's IdentityCertificateUUID
 * names), e.g. com.apple.security.acme. Asked at every profile download, in start order; the first payload wins.
 * Answer undefined to leave the device on SCEP. A contributor that throws or hangs fails the download closed
 * (503), so a device never gets a weaker identity than the admin chose by accident.
 */
export interface EnrollmentIdentityContributor {
  /** A payload dictionary with PayloadType and PayloadUUID, or undefined (SCEP). */
  identityPayload(request: EnrollmentIdentityRequest): Promise<Record<string, unknown> | undefined>;
}
/** Owned by mdm (issue 22; the integrator assigns the SDK minor). */
export const enrollmentIdentityPoint = createExtensionPoint<EnrollmentIdentityContributor>('mdm.enrollmentIdentity');

export interface DeviceIdentityRequest {
  enrollmentId: string;
  /** DER PKCS#10; its self-signature is checked, its key (RSA or EC) certified, its subject copied. */
  csrDer: Buffer;
  /** Binds the identity to this UDID: Authenticate with another UDID is refused (an attested UDID). */
  udid?: string;
  /** Who issues through the service, for logs: "acme". */
  via: string;
}

export interface IssuedDeviceIdentity {
  serial: string;
  certificateDer: Buffer;
  /** The gateway CA that issued it (the chain a client presents ends here). */
  caCertificateDer: Buffer;
  notAfter: Date;
}

export type DeviceIdentityRefusal =
  /** The enrollment is unknown, cancelled, expired, already has its first identity, or is not current. */
  | 'not-issuable'
  /** The CSR is unreadable or its self-signature does not verify. */
  | 'bad-csr'
  /** The enrollment is bound to another device. */
  | 'device-mismatch';

/** Thrown by DeviceIdentityIssuer when it issues nothing. */
export class DeviceIdentityRefusedError extends GatewayError {
  constructor(
    readonly reason: DeviceIdentityRefusal,
    message: string,
  ) {
    super('identity-refused', message);
  }

  static override is(value: unknown): value is DeviceIdentityRefusedError {
    return GatewayError.is(value) && value.code === 'identity-refused';
  }
}

/** A new identity payload for an enrolled device, delivered by reinstalling its enrollment profile (since 2.11). */
export interface IdentityPayloadDelivery {
  deviceId: string;
  /** The device's current enrollment; anything else is refused (`not-issuable`). */
  enrollmentId: string;
  /** The payload the rebuilt profile's com.apple.mdm IdentityCertificateUUID names (com.apple.security.acme). */
  identityPayload: Record<string, unknown>;
  /** The InstallProfile CommandUUID: the same for every try of one renewal, so it is queued once. */
  commandUuid: string;
  /** Who asked, for the command history ("acme"). */
  origin: string;
}

/**
 * Device identity certificates from the gateway CA, recorded exactly as SCEP-issued ones are, so check-in,
 * renewal checks and revocation treat them alike. Provided by mdm (issue 22).
 */
export interface DeviceIdentityIssuer {
  /** The enrollment's first identity (profile downloaded, no identity yet): once per enrollment. */
  issue(request: DeviceIdentityRequest): Promise<IssuedDeviceIdentity>;
  /** A further identity for an enrollment that is its device's current one and still managed. */
  renew(request: DeviceIdentityRequest): Promise<IssuedDeviceIdentity>;
  /** Revokes one identity: the device signing with it is refused from its next request on. False if unknown. */
  revoke(serial: string, reason: string): Promise<boolean>;
  /**
   * Since 2.11: queues InstallProfile with the device's enrollment profile rebuilt around `identityPayload` (same
   * PayloadIdentifier, server URLs and topic, as Apple requires to replace it), so the device obtains a new MDM
   * identity before the current one expires. Throws DeviceIdentityRefusedError('not-issuable') when the enrollment
   * is not the device's current, managed one.
   */
  deliverIdentityPayload?(delivery: IdentityPayloadDelivery): Promise<{ commandUuid: string; created: boolean }>;
}
export const deviceIdentityIssuerRef = createServiceRef<DeviceIdentityIssuer>('mdm.identityIssuer');
