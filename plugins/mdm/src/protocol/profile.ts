import { randomUUID } from 'node:crypto';
import { ProfileBuildError } from './errors.js';
import type { PlistInput } from './plist-safe.js';

/**
 * Configuration profiles as plain objects (serialize with buildPlist, then sign). The enrollment profile carries the
 * gateway's CA (com.apple.security.root), a SCEP payload that makes the device generate its own key and fetch its
 * identity certificate, and the com.apple.mdm payload that points at our check-in and server URLs.
 */

export type PayloadDict = { [key: string]: PlistInput | undefined };
export type ConfigurationProfile = PayloadDict & {
  PayloadType: 'Configuration';
  PayloadVersion: 1;
  PayloadIdentifier: string;
  PayloadUUID: string;
  PayloadContent: PayloadDict[];
};

/** Bits of com.apple.mdm AccessRights (Apple's documented values). */
export const ACCESS_RIGHTS = {
  inspectProfiles: 1,
  installRemoveProfiles: 2,
  lockAndRemovePasscode: 4,
  eraseDevice: 8,
  queryDeviceInformation: 16,
  queryNetworkInformation: 32,
  inspectProvisioningProfiles: 64,
  installRemoveProvisioningProfiles: 128,
  inspectApplications: 256,
  restrictionQueries: 512,
  securityQueries: 1024,
  manipulateSettings: 2048,
  appManagement: 4096,
} as const;
const ALL_RIGHTS = Object.values(ACCESS_RIGHTS).reduce((a, b) => a | b, 0);

/**
 * Rights for a user-owned device — what the gateway's commands need, nothing more:
 * - 1 + 2: install/remove our own profiles (SSO extension, web clips) and list them to reconcile (2 requires 1);
 * - 4: DeviceLock for a lost phone. Apple bundles it with passcode removal; the gateway has no ClearPasscode builder;
 * - 16: DeviceInformation (OS version, model) for inventory and compliance;
 * - 256: InstalledApplicationList (the builder defaults to ManagedAppsOnly);
 * - 1024: SecurityInfo (passcode present/compliant);
 * - 4096: install/remove managed apps and ManagedApplicationList.
 * Withheld: 8 erase (never on a personal device), 32 network info (phone number, MACs, ICCID: personal data),
 * 64/128 provisioning profiles, 512 restriction queries and 2048 settings (unused).
 */
export const USER_OWNED_ACCESS_RIGHTS =
  ACCESS_RIGHTS.inspectProfiles |
  ACCESS_RIGHTS.installRemoveProfiles |
  ACCESS_RIGHTS.lockAndRemovePasscode |
  ACCESS_RIGHTS.queryDeviceInformation |
  ACCESS_RIGHTS.inspectApplications |
  ACCESS_RIGHTS.securityQueries |
  ACCESS_RIGHTS.appManagement;

export const SERVER_CAPABILITIES = [
  'com.apple.mdm.per-user-connections',
  'com.apple.mdm.bootstraptoken',
  'com.apple.mdm.token',
] as const;
export type ServerCapability = (typeof SERVER_CAPABILITIES)[number];

/** Throws unless `rights` is a combination Apple accepts and contains no erase right. */
export function checkUserOwnedAccessRights(rights: number): void {
  if (!Number.isInteger(rights) || rights <= 0 || (rights & ~ALL_RIGHTS) !== 0) {
    throw new ProfileBuildError('AccessRights must be a non-zero combination of the documented bits');
  }
  if (rights & ACCESS_RIGHTS.eraseDevice)
    throw new ProfileBuildError('AccessRights must not grant erase on a user-owned device');
  if (rights & ACCESS_RIGHTS.installRemoveProfiles && !(rights & ACCESS_RIGHTS.inspectProfiles)) {
    throw new ProfileBuildError('AccessRights 2 (install/remove profiles) requires 1 (inspect profiles)');
  }
  if (
    rights & ACCESS_RIGHTS.installRemoveProvisioningProfiles &&
    !(rights & ACCESS_RIGHTS.inspectProvisioningProfiles)
  ) {
    throw new ProfileBuildError('AccessRights 128 requires 64');
  }
}

export interface ConfigurationProfileMeta {
  /** Reverse-DNS; the device replaces an installed profile with the same identifier. */
  identifier: string;
  uuid?: string;
  displayName: string;
  organization?: string;
  description?: string;
  /** iOS honours `true` only on supervised devices; user-owned devices get `false`. */
  removalDisallowed?: boolean;
  scope?: 'System' | 'User';
  /** 1 = iPhone/iPad: avoids the "choose a device" prompt when installing interactively on iOS. */
  targetDeviceType?: 0 | 1 | 2 | 3 | 4 | 5 | 6;
}

/** Wraps payload dictionaries in a Configuration profile; checks identifiers and UUIDs are unique. */
export function buildConfigurationProfile(
  payloads: readonly PayloadDict[],
  meta: ConfigurationProfileMeta,
  generateUuid: () => string = newUuid,
): ConfigurationProfile {
  requireReverseDns(meta.identifier, 'profile identifier');
  const profileUuid = meta.uuid ?? generateUuid();
  const seenIdentifiers = new Set([meta.identifier]);
  const seenUuids = new Set([profileUuid]);
  for (const payload of payloads) {
    for (const key of ['PayloadType', 'PayloadIdentifier', 'PayloadUUID'] as const) {
      if (typeof payload[key] !== 'string' || payload[key] === '')
        throw new ProfileBuildError(`payload without ${key}`);
    }
    const identifier = payload.PayloadIdentifier as string;
    const uuid = payload.PayloadUUID as string;
    if (seenIdentifiers.has(identifier)) throw new ProfileBuildError(`duplicate PayloadIdentifier ${identifier}`);
    if (seenUuids.has(uuid)) throw new ProfileBuildError(`duplicate PayloadUUID ${uuid}`);
    seenIdentifiers.add(identifier);
    seenUuids.add(uuid);
  }
  return {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: meta.identifier,
    PayloadUUID: profileUuid,
    PayloadDisplayName: meta.displayName,
    PayloadOrganization: meta.organization,
    PayloadDescription: meta.description,
    PayloadRemovalDisallowed: meta.removalDisallowed ?? false,
    PayloadScope: meta.scope ?? 'System',
    TargetDeviceType: meta.targetDeviceType,
    PayloadContent: [...payloads],
  };
}

export interface EnrollmentProfileInput {
  /** Reverse-DNS base; payloads get `.ca`, `.scep`, `.mdm` appended. */
  identifier: string;
  displayName: string;
  organization: string;
  description?: string;
  /** Keep stable across re-downloads if you want re-installs to replace rather than add. */
  profileUuid?: string;
  rootCertificate: { der: Buffer; fileName?: string; displayName?: string };
  scep: {
    url: string;
    /** One-time challenge the SCEP endpoint checks; ties the request to this enrollment. */
    challenge: string;
    /** Relative distinguished names in order, e.g. [['O', 'Example'], ['CN', 'device-enrollment-id']]. */
    subject: readonly (readonly [string, string])[];
    /** The SCEP `message` (CA identifier) the server expects, if it distinguishes CAs. */
    caIdentifier?: string;
    keySize?: 2048 | 4096;
    /** Hash of the SCEP CA certificate, if the caller wants the device to pin it. */
    caFingerprint?: Buffer;
    retries?: number;
    retryDelaySeconds?: number;
  };
  mdm: {
    serverUrl: string;
    checkInUrl: string;
    /** The APNs topic from the push certificate ("com.apple.mgmt.External.<uuid>"). */
    topic: string;
    /** Defaults to USER_OWNED_ACCESS_RIGHTS; must not include erase. */
    accessRights?: number;
    useDevelopmentApns?: boolean;
    /**
     * Default: none. 'com.apple.mdm.per-user-connections' is only for Shared iPad / macOS user channels; personal
     * iPhones and iPads never open a user channel, and the device refuses adding or removing it on a later update.
     */
    serverCapabilities?: readonly ServerCapability[];
    /**
     * Account-driven enrollment: the account the user signed in with and the mode ('BYOD' = User Enrollment,
     * 'ADDE' = account-driven Device Enrollment). The device refuses a later change of either.
     */
    accountDriven?: { mode: 'BYOD' | 'ADDE'; managedAppleId: string };
  };
  /** Payload dictionaries contributed by plugins; PayloadVersion and PayloadUUID are filled in when missing. */
  extraPayloads?: readonly Record<string, unknown>[];
  /**
   * A contributed identity payload (com.apple.security.acme) used instead of the SCEP payload: IdentityCertificateUUID
   * names it. Its PayloadUUID is kept (the contributor may have recorded it).
   */
  identityPayload?: Record<string, unknown>;
  /** For deterministic tests. */
  generateUuid?: () => string;
}

/** Builds the MDM enrollment profile (unsigned object; serialize with buildPlist, then sign as CMS). */
export function buildEnrollmentProfile(input: EnrollmentProfileInput): ConfigurationProfile {
  const uuid = input.generateUuid ?? newUuid;
  const { mdm, scep, rootCertificate } = input;
  requireReverseDns(input.identifier, 'identifier');
  requireHttps(mdm.serverUrl, 'ServerURL');
  requireHttps(mdm.checkInUrl, 'CheckInURL');
  if (!/^https?:\/\/\S+$/.test(scep.url)) throw new ProfileBuildError('SCEP URL must be an http(s) URL');
  if (!mdm.topic.startsWith('com.apple.mgmt.')) throw new ProfileBuildError('Topic must start with com.apple.mgmt.');
  if (scep.challenge === '') throw new ProfileBuildError('SCEP challenge must not be empty');
  if (scep.subject.length === 0) throw new ProfileBuildError('SCEP subject must not be empty');
  // A DER certificate is an ASN.1 SEQUENCE; catching PEM or garbage here beats a device-side install failure.
  if (rootCertificate.der.length < 64 || rootCertificate.der[0] !== 0x30) {
    throw new ProfileBuildError('root certificate must be DER-encoded');
  }
  const accessRights = mdm.accessRights ?? USER_OWNED_ACCESS_RIGHTS;
  checkUserOwnedAccessRights(accessRights);
  for (const capability of mdm.serverCapabilities ?? []) {
    if (!SERVER_CAPABILITIES.includes(capability))
      throw new ProfileBuildError(`unknown server capability ${capability}`);
  }

  const rootPayload: PayloadDict = {
    PayloadType: 'com.apple.security.root',
    PayloadVersion: 1,
    PayloadIdentifier: `${input.identifier}.ca`,
    PayloadUUID: uuid(),
    PayloadDisplayName: rootCertificate.displayName ?? `${input.organization} CA`,
    PayloadCertificateFileName: rootCertificate.fileName ?? 'ca.cer',
    PayloadContent: rootCertificate.der,
  };
  const scepPayloadUuid = uuid();
  const scepPayload: PayloadDict = {
    PayloadType: 'com.apple.security.scep',
    PayloadVersion: 1,
    PayloadIdentifier: `${input.identifier}.scep`,
    PayloadUUID: scepPayloadUuid,
    PayloadDisplayName: 'Device identity',
    PayloadContent: {
      URL: scep.url,
      Name: scep.caIdentifier,
      Challenge: scep.challenge,
      Subject: scep.subject.map(([oid, value]) => [[oid, value]]),
      Keysize: scep.keySize ?? 2048,
      'Key Type': 'RSA',
      // 1 signing (TLS client auth, Mdm-Signature) | 4 encryption (profiles encrypted to the device identity).
      'Key Usage': 5,
      CAFingerprint: scep.caFingerprint,
      Retries: scep.retries,
      RetryDelay: scep.retryDelaySeconds,
    },
  };
  const identityPayload = input.identityPayload ? completeExtraPayload(input.identityPayload, uuid) : scepPayload;
  const mdmPayload: PayloadDict = {
    PayloadType: 'com.apple.mdm',
    PayloadVersion: 1,
    PayloadIdentifier: `${input.identifier}.mdm`,
    PayloadUUID: uuid(),
    PayloadDisplayName: 'Device management',
    ServerURL: mdm.serverUrl,
    CheckInURL: mdm.checkInUrl,
    Topic: mdm.topic,
    IdentityCertificateUUID: identityPayload.PayloadUUID,
    // Mdm-Signature lets the server authenticate each message without TLS client certificates at the proxy.
    SignMessage: true,
    // A CheckOut tells the server the user removed management, so it can release licences and stop pushes.
    CheckOutWhenRemoved: true,
    AccessRights: accessRights,
    UseDevelopmentAPNS: mdm.useDevelopmentApns ? true : undefined,
    ServerCapabilities: mdm.serverCapabilities?.length ? [...mdm.serverCapabilities] : undefined,
    AssignedManagedAppleID: mdm.accountDriven?.managedAppleId,
    EnrollmentMode: mdm.accountDriven?.mode,
  };
  const extras = (input.extraPayloads ?? []).map((payload) => completeExtraPayload(payload, uuid));
  const profile = buildConfigurationProfile(
    [rootPayload, identityPayload, mdmPayload, ...extras],
    {
      identifier: input.identifier,
      uuid: input.profileUuid,
      displayName: input.displayName,
      organization: input.organization,
      description: input.description,
      removalDisallowed: false,
      scope: 'System',
      targetDeviceType: 1,
    },
    uuid,
  );
  // User Enrollment forbids PayloadRemovalDisallowed (the user can always remove it).
  return mdm.accountDriven?.mode === 'BYOD' ? { ...profile, PayloadRemovalDisallowed: undefined } : profile;
}

function completeExtraPayload(payload: Record<string, unknown>, uuid: () => string): PayloadDict {
  const type = payload.PayloadType;
  if (typeof type !== 'string' || type === '') throw new ProfileBuildError('contributed payload without PayloadType');
  if (type === 'com.apple.mdm' || type === 'Configuration') {
    throw new ProfileBuildError(`contributed payloads must not be of type ${type}`);
  }
  // Values are checked for plist-representability when the profile is serialized (buildPlist throws PlistError).
  return {
    ...(payload as PayloadDict),
    PayloadVersion: (payload.PayloadVersion as number | undefined) ?? 1,
    PayloadUUID: (payload.PayloadUUID as string | undefined) ?? uuid(),
  };
}

function newUuid(): string {
  return randomUUID().toUpperCase();
}

function requireHttps(url: string, name: string): void {
  if (!/^https:\/\/[^\s/]+\S*$/.test(url)) throw new ProfileBuildError(`${name} must be an https URL`);
}

function requireReverseDns(identifier: string, name: string): void {
  if (!/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(identifier)) throw new ProfileBuildError(`${name} must be reverse-DNS`);
}
