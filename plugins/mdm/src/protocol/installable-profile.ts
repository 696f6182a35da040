/**
 * Structural checks of a configuration profile an admin asks to install with InstallProfile: what iOS refuses
 * on the device (and what Apple's profile schema, TopLevel and CommonPayloadKeys, requires) is refused at
 * enqueue instead, with one issue per key. Needs nothing of Apple's schema repository at run time; the tests
 * check that what passes here also passes Apple's schemas.
 */
import { CmsVerificationError, PkiFormatError, verifyAttachedSignature } from '../pki/index.js';
import { type FieldIssue, PlistError } from './errors.js';
import { type PlistDict, type PlistNode, parseDevicePlist } from './plist-safe.js';

/** The largest profile InstallProfile carries (signed or not). */
export const MAX_INSTALLABLE_PROFILE_BYTES = 4 * 1024 * 1024;

export interface InstallableProfileSummary {
  identifier: string;
  uuid: string;
  displayName?: string;
  /** PayloadType of each PayloadContent item (empty when the content is encrypted). */
  payloadTypes: string[];
  signed: boolean;
  encrypted: boolean;
}

export type InstallableProfileCheck =
  | { ok: true; profile: InstallableProfileSummary }
  | { ok: false; issues: FieldIssue[] };

const TOP_LEVEL_TYPES: Record<string, 'string' | 'boolean' | 'integer' | 'number' | 'date' | 'data' | 'dict'> = {
  PayloadIdentifier: 'string',
  PayloadUUID: 'string',
  PayloadType: 'string',
  PayloadVersion: 'integer',
  PayloadDescription: 'string',
  PayloadDisplayName: 'string',
  PayloadOrganization: 'string',
  PayloadRemovalDisallowed: 'boolean',
  PayloadScope: 'string',
  HasRemovalPasscode: 'boolean',
  IsEncrypted: 'boolean',
  EncryptedPayloadContent: 'data',
  RemovalDate: 'date',
  DurationUntilRemoval: 'number',
  PayloadExpirationDate: 'date',
  TargetDeviceType: 'integer',
  ConsentText: 'dict',
};
const ITEM_TYPES = {
  PayloadType: 'string',
  PayloadIdentifier: 'string',
  PayloadUUID: 'string',
  PayloadVersion: 'integer',
  PayloadDisplayName: 'string',
  PayloadDescription: 'string',
  PayloadOrganization: 'string',
} as const;
const ITEM_REQUIRED = ['PayloadType', 'PayloadIdentifier', 'PayloadUUID', 'PayloadVersion'] as const;
/** Payloads iOS never installs through InstallProfile. */
const REFUSED_PAYLOAD_TYPES: Record<string, string> = {
  'com.apple.mdm': 'an MDM payload cannot be installed by MDM',
};

function isDict(value: PlistNode | undefined): value is PlistDict {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !Buffer.isBuffer(value)
  );
}

function hasType(value: PlistNode, type: (typeof TOP_LEVEL_TYPES)[string]): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'date':
      return value instanceof Date;
    case 'data':
      return Buffer.isBuffer(value);
    default:
      return isDict(value);
  }
}

function checkKeys(
  dict: PlistDict,
  types: Readonly<Record<string, (typeof TOP_LEVEL_TYPES)[string]>>,
  required: readonly string[],
  at: string,
  issues: FieldIssue[],
): void {
  const path = (key: string) => (at ? `${at}.${key}` : key);
  for (const key of required) {
    const value = dict[key];
    if (value === undefined) issues.push({ path: path(key), message: 'is required' });
    else if (typeof value === 'string' && value.trim() === '') issues.push({ path: path(key), message: 'is empty' });
  }
  for (const [key, type] of Object.entries(types)) {
    const value = dict[key];
    if (value !== undefined && !hasType(value, type)) issues.push({ path: path(key), message: `must be ${type}` });
  }
}

/** Unwraps a CMS-signed profile (checking the signature: iOS refuses a broken one) or takes the XML as it is. */
function unwrap(bytes: Buffer): { content: Buffer; signed: boolean } | FieldIssue {
  if (bytes[0] !== 0x30) return { content: bytes, signed: false };
  try {
    return {
      content: verifyAttachedSignature(bytes, { maxBytes: MAX_INSTALLABLE_PROFILE_BYTES }).content,
      signed: true,
    };
  } catch (error) {
    if (error instanceof CmsVerificationError || error instanceof PkiFormatError) {
      return { path: '(root)', message: `signed profile does not verify: ${error.message}` };
    }
    throw error;
  }
}

function parse(content: Buffer): { plist: PlistDict } | { issue: FieldIssue } {
  try {
    return { plist: parseDevicePlist(content, { maxBytes: MAX_INSTALLABLE_PROFILE_BYTES }) };
  } catch (error) {
    if (error instanceof PlistError) return { issue: { path: '(root)', message: `not a profile: ${error.message}` } };
    throw error;
  }
}

/** Checks a .mobileconfig (XML, or CMS-signed XML) for InstallProfile; never throws for bad input. */
export function checkInstallableProfile(bytes: Buffer): InstallableProfileCheck {
  if (bytes.length === 0 || bytes.length > MAX_INSTALLABLE_PROFILE_BYTES) {
    return { ok: false, issues: [{ path: '(root)', message: 'must be 1 byte to 4 MiB' }] };
  }
  const unwrapped = unwrap(bytes);
  if ('message' in unwrapped) return { ok: false, issues: [unwrapped] };
  const parsed = parse(unwrapped.content);
  if ('issue' in parsed) return { ok: false, issues: [parsed.issue] };
  const { plist } = parsed;
  const issues: FieldIssue[] = [];
  checkKeys(plist, TOP_LEVEL_TYPES, ['PayloadIdentifier', 'PayloadUUID', 'PayloadType', 'PayloadVersion'], '', issues);
  if (plist.PayloadType !== undefined && plist.PayloadType !== 'Configuration') {
    issues.push({ path: 'PayloadType', message: 'must be "Configuration"' });
  }
  if (plist.PayloadScope !== undefined && plist.PayloadScope !== 'User' && plist.PayloadScope !== 'System') {
    issues.push({ path: 'PayloadScope', message: 'must be "User" or "System"' });
  }
  const encrypted = Buffer.isBuffer(plist.EncryptedPayloadContent);
  const content = plist.PayloadContent;
  const payloadTypes: string[] = [];
  if (content === undefined && !encrypted) {
    issues.push({ path: 'PayloadContent', message: 'is required (or EncryptedPayloadContent)' });
  } else if (content !== undefined && !Array.isArray(content)) {
    issues.push({ path: 'PayloadContent', message: 'must be an array of payload dictionaries' });
  } else if (Array.isArray(content)) {
    const uuids = new Set<string>();
    content.forEach((item, index) => {
      const at = `PayloadContent.${index}`;
      if (!isDict(item)) {
        issues.push({ path: at, message: 'must be a payload dictionary' });
        return;
      }
      checkKeys(item, ITEM_TYPES, ITEM_REQUIRED, at, issues);
      if (typeof item.PayloadType === 'string') {
        payloadTypes.push(item.PayloadType);
        const refused = REFUSED_PAYLOAD_TYPES[item.PayloadType];
        if (refused) issues.push({ path: `${at}.PayloadType`, message: refused });
      }
      if (typeof item.PayloadUUID === 'string') {
        if (uuids.has(item.PayloadUUID) || item.PayloadUUID === plist.PayloadUUID) {
          issues.push({ path: `${at}.PayloadUUID`, message: 'is used twice in the profile' });
        }
        uuids.add(item.PayloadUUID);
      }
    });
  }
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    profile: {
      identifier: plist.PayloadIdentifier as string,
      uuid: plist.PayloadUUID as string,
      displayName: typeof plist.PayloadDisplayName === 'string' ? plist.PayloadDisplayName : undefined,
      payloadTypes,
      signed: unwrapped.signed,
      encrypted,
    },
  };
}
