/**
 * Configuration profiles as a device reads them: the signed enrollment profile (verified against the CA it carries,
 * as the simulator's stand-in for iOS showing "Verified") and profiles pushed later with InstallProfile (signed or
 * not, optionally with EncryptedPayloadContent addressed to the device identity).
 */
import { type KeyObject, X509Certificate } from 'node:crypto';
import { parse as parseXmlPlist } from 'plist';
import { decryptEnvelopedData } from '../../plugins/mdm/src/pki/cms-enveloped-data.js';
import {
  CmsVerificationError,
  derToPem,
  type NameAttribute,
  verifyAttachedSignature,
} from '../../plugins/mdm/src/pki/index.js';
import { type PlistDict, type PlistNode, parseDevicePlist } from '../../plugins/mdm/src/protocol/index.js';
import type { AcmeSettings } from './device-simulator-acme.js';
import { DeviceSimulatorError } from './device-simulator-http.js';

export interface ProfilePayloadSummary {
  PayloadType: string;
  PayloadVersion: number;
  PayloadIdentifier: string;
  PayloadUUID: string;
  PayloadDisplayName?: string;
  PayloadDescription?: string;
  PayloadOrganization?: string;
}

export interface InstalledProfile {
  identifier: string;
  uuid: string;
  version: number;
  displayName?: string;
  organization?: string;
  description?: string;
  removalDisallowed: boolean;
  encrypted: boolean;
  /** Signer certificate DERs, as ProfileList reports them; empty for an unsigned profile. */
  signerCertificates: Buffer[];
  payloads: ProfilePayloadSummary[];
  /** Full payload dictionaries (decrypted when they arrived encrypted), for tests that inspect what was pushed. */
  payloadContent: PlistDict[];
  /** How it got onto the device: the enrollment profile, an MDM InstallProfile, a legacy declaration, or the user. */
  installedBy: 'enrollment' | 'mdm' | 'declaration' | 'user';
}

export interface ScepSettings {
  url: string;
  challenge?: string;
  /** Flattened from Apple's [[["O","Org"]],[["CN","x"]]] form, in order. */
  subject: NameAttribute[];
  keySize: number;
  keyType: string;
  keyUsage: number;
  /** SCEP `message` parameter (CA identifier), when the profile names one. */
  caIdentifier?: string;
  caFingerprint?: Buffer;
  payloadUuid: string;
}

export interface MdmSettings {
  serverUrl: string;
  checkInUrl: string;
  topic: string;
  identityCertificateUuid: string;
  signMessage: boolean;
  checkOutWhenRemoved: boolean;
  accessRights: number;
  serverCapabilities: string[];
}

export interface EnrollmentProfile {
  profile: InstalledProfile;
  /** The verified, parsed profile plist. */
  plist: PlistDict;
  caCertPem: string;
  caCertDer: Buffer;
  signerCertDer: Buffer;
  signerSubject: string;
  /** The identity payload: SCEP (iOS 15 and SCEP-only profiles) or ACME (iOS/iPadOS 16+). */
  scep?: ScepSettings;
  acme?: AcmeSettings;
  mdm: MdmSettings;
}

const MAX_PROFILE_BYTES = 4 * 1024 * 1024;

function invalid(message: string): never {
  throw new DeviceSimulatorError('profile-invalid', message);
}

function str(dict: PlistDict, key: string, where: string): string {
  const value = dict[key];
  if (typeof value !== 'string' || value === '') invalid(`${where}.${key} must be a non-empty string`);
  return value;
}

const optStr = (dict: PlistDict, key: string): string | undefined =>
  typeof dict[key] === 'string' ? (dict[key] as string) : undefined;

function isDict(value: PlistNode | undefined): value is PlistDict {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !Buffer.isBuffer(value)
  );
}

/** Reads a profile file: CMS-signed (DER, starts with SEQUENCE) or a plain XML plist. The signature is checked. */
function readProfileBytes(bytes: Buffer): { plist: PlistDict; signerCertDer?: Buffer } {
  let content = bytes;
  let signerCertDer: Buffer | undefined;
  if (bytes[0] === 0x30) {
    try {
      ({ content, signerCertDer } = verifyAttachedSignature(bytes, { maxBytes: MAX_PROFILE_BYTES }));
    } catch (error) {
      throw new DeviceSimulatorError('profile-invalid', `profile signature is invalid: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  try {
    return { plist: parseDevicePlist(content, { maxBytes: MAX_PROFILE_BYTES }), signerCertDer };
  } catch (error) {
    throw new DeviceSimulatorError('profile-invalid', `profile is not a plist: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function summarize(payload: PlistDict, index: number): ProfilePayloadSummary {
  const where = `PayloadContent[${index}]`;
  return {
    PayloadType: str(payload, 'PayloadType', where),
    PayloadVersion: typeof payload.PayloadVersion === 'number' ? payload.PayloadVersion : 1,
    PayloadIdentifier: str(payload, 'PayloadIdentifier', where),
    PayloadUUID: str(payload, 'PayloadUUID', where),
    PayloadDisplayName: optStr(payload, 'PayloadDisplayName'),
    PayloadDescription: optStr(payload, 'PayloadDescription'),
    PayloadOrganization: optStr(payload, 'PayloadOrganization'),
  };
}

/**
 * Turns a Configuration plist into what the device keeps. `identity` opens EncryptedPayloadContent (an
 * EnvelopedData whose plaintext is the PayloadContent array as an XML plist).
 */
function toInstalledProfile(
  plist: PlistDict,
  signerCertDer: Buffer | undefined,
  installedBy: InstalledProfile['installedBy'],
  identity?: { certDer: Buffer; key: KeyObject },
): InstalledProfile {
  if (plist.PayloadType !== 'Configuration') invalid('PayloadType must be Configuration');
  let content: PlistNode | undefined = plist.PayloadContent;
  const encrypted = Buffer.isBuffer(plist.EncryptedPayloadContent);
  if (encrypted) {
    if (!identity) invalid('EncryptedPayloadContent needs a device identity to decrypt');
    const envelope = decryptEnvelopedData(plist.EncryptedPayloadContent as Buffer, identity.certDer, identity.key);
    content = parseXmlPlist(envelope.content.toString('utf8')) as PlistNode;
  }
  content ??= [];
  if (!Array.isArray(content) || !content.every(isDict)) invalid('PayloadContent must be an array of dictionaries');
  return {
    identifier: str(plist, 'PayloadIdentifier', 'profile'),
    uuid: str(plist, 'PayloadUUID', 'profile'),
    version: typeof plist.PayloadVersion === 'number' ? plist.PayloadVersion : 1,
    displayName: optStr(plist, 'PayloadDisplayName'),
    organization: optStr(plist, 'PayloadOrganization'),
    description: optStr(plist, 'PayloadDescription'),
    removalDisallowed: plist.PayloadRemovalDisallowed === true,
    encrypted,
    signerCertificates: signerCertDer ? [signerCertDer] : [],
    payloads: content.map(summarize),
    payloadContent: content,
    installedBy,
  };
}

/** A profile delivered by InstallProfile (or installed by the user): signed or unsigned, possibly encrypted. */
export function readInstallableProfile(
  bytes: Buffer,
  installedBy: InstalledProfile['installedBy'],
  identity?: { certDer: Buffer; key: KeyObject },
): InstalledProfile {
  const { plist, signerCertDer } = readProfileBytes(bytes);
  return toInstalledProfile(plist, signerCertDer, installedBy, identity);
}

/** Apple's SCEP Subject: an array of RDNs, each an array of [type, value] pairs. */
export function flattenScepSubject(subject: PlistNode | undefined): NameAttribute[] {
  if (!Array.isArray(subject) || subject.length === 0) invalid('SCEP Subject must be a non-empty array');
  const out: NameAttribute[] = [];
  for (const rdn of subject) {
    if (!Array.isArray(rdn)) invalid('SCEP Subject entries must be arrays');
    for (const pair of rdn) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        invalid('SCEP Subject attributes must be [type, value] string pairs');
      }
      out.push({ type: pair[0], value: pair[1] });
    }
  }
  return out;
}

function payloadOfType(payloads: PlistDict[], type: string): PlistDict {
  const matches = payloads.filter((p) => p.PayloadType === type);
  if (matches.length !== 1) invalid(`expected exactly one ${type} payload, found ${matches.length}`);
  return matches[0];
}

/**
 * Reads the enrollment profile and refuses it unless it is CMS-signed by a certificate issued by the CA in its own
 * com.apple.security.root payload (and valid at `now`).
 */
export function readEnrollmentProfile(bytes: Buffer, now = new Date()): EnrollmentProfile {
  if (bytes[0] !== 0x30) throw new DeviceSimulatorError('profile-unsigned', 'enrollment profile is not CMS-signed');
  const { plist, signerCertDer } = readProfileBytes(bytes);
  const profile = toInstalledProfile(plist, signerCertDer, 'enrollment');
  const payloads = profile.payloadContent;

  const root = payloadOfType(payloads, 'com.apple.security.root');
  if (!Buffer.isBuffer(root.PayloadContent)) invalid('com.apple.security.root PayloadContent must be <data>');
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(root.PayloadContent);
  } catch (error) {
    throw new DeviceSimulatorError('profile-invalid', 'root payload is not a DER certificate', { cause: error });
  }
  if (!ca.ca) invalid('root payload certificate is not a CA');
  const caCertPem = derToPem(ca.raw);
  try {
    verifyAttachedSignature(bytes, { caCertPem, now, maxBytes: MAX_PROFILE_BYTES });
  } catch (error) {
    const reason = error instanceof CmsVerificationError ? error.reason : 'unknown';
    throw new DeviceSimulatorError('profile-untrusted', `profile signer does not chain to its root CA (${reason})`, {
      cause: error,
    });
  }

  const mdm = payloadOfType(payloads, 'com.apple.mdm');
  const identityCertificateUuid = str(mdm, 'IdentityCertificateUUID', 'mdm');
  const identity = payloads.filter((p) => p.PayloadUUID === identityCertificateUuid);
  if (identity.length !== 1) invalid('IdentityCertificateUUID does not name exactly one payload');
  const acmePayloads = payloads.filter((p) => p.PayloadType === 'com.apple.security.acme');
  const scepPayloads = payloads.filter((p) => p.PayloadType === 'com.apple.security.scep');
  if (acmePayloads.length + scepPayloads.length !== 1) invalid('expected exactly one SCEP or ACME identity payload');
  if (identity[0] !== (acmePayloads[0] ?? scepPayloads[0]))
    invalid('IdentityCertificateUUID does not name the identity payload');
  const accessRights = mdm.AccessRights;
  if (typeof accessRights !== 'number' || !Number.isInteger(accessRights)) invalid('AccessRights must be an integer');
  const capabilities = Array.isArray(mdm.ServerCapabilities) ? mdm.ServerCapabilities : [];

  return {
    profile,
    plist,
    caCertPem,
    caCertDer: ca.raw,
    signerCertDer: signerCertDer as Buffer,
    signerSubject: new X509Certificate(signerCertDer as Buffer).subject.split('\n').join(', '),
    scep: scepPayloads[0] ? readScepSettings(scepPayloads[0]) : undefined,
    acme: acmePayloads[0] ? readAcmeSettings(acmePayloads[0]) : undefined,
    mdm: {
      serverUrl: str(mdm, 'ServerURL', 'mdm'),
      checkInUrl: optStr(mdm, 'CheckInURL') ?? str(mdm, 'ServerURL', 'mdm'),
      topic: str(mdm, 'Topic', 'mdm'),
      identityCertificateUuid,
      signMessage: mdm.SignMessage === true,
      checkOutWhenRemoved: mdm.CheckOutWhenRemoved === true,
      accessRights,
      serverCapabilities: capabilities.filter((c): c is string => typeof c === 'string'),
    },
  };
}

function readScepSettings(scepPayload: PlistDict): ScepSettings {
  const scep = scepPayload.PayloadContent;
  if (!isDict(scep)) invalid('com.apple.security.scep PayloadContent must be a dictionary');
  return {
    url: str(scep, 'URL', 'scep'),
    challenge: optStr(scep, 'Challenge'),
    subject: flattenScepSubject(scep.Subject),
    keySize: typeof scep.Keysize === 'number' ? scep.Keysize : 1024,
    keyType: optStr(scep, 'Key Type') ?? 'RSA',
    keyUsage: typeof scep['Key Usage'] === 'number' ? scep['Key Usage'] : 0,
    caIdentifier: optStr(scep, 'Name'),
    caFingerprint: Buffer.isBuffer(scep.CAFingerprint) ? scep.CAFingerprint : undefined,
    payloadUuid: str(scepPayload, 'PayloadUUID', 'scep'),
  };
}

/** com.apple.security.acme keys sit at the top level of the payload (no PayloadContent). */
export function readAcmeSettings(acme: PlistDict): AcmeSettings {
  if (typeof acme.KeySize !== 'number') invalid('acme.KeySize must be an integer');
  return {
    directoryUrl: str(acme, 'DirectoryURL', 'acme'),
    clientIdentifier: str(acme, 'ClientIdentifier', 'acme'),
    keyType: str(acme, 'KeyType', 'acme'),
    keySize: acme.KeySize,
    hardwareBound: acme.HardwareBound === true,
    attest: acme.Attest === true,
    subject: flattenScepSubject(acme.Subject),
    payloadUuid: str(acme, 'PayloadUUID', 'acme'),
  };
}
