import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  type DeviceInformationResult,
  type DeviceLockResult,
  type EmptyResult,
  type InstallApplicationResult,
  type InstalledApplicationListResult,
  type ManagedApplicationListResult,
  type ProfileListResult,
  parseDeviceInformationResult,
  parseDeviceLockResult,
  parseEmptyResult,
  parseInstallApplicationResult,
  parseInstalledApplicationListResult,
  parseManagedApplicationListResult,
  parseProfileListResult,
  parseSecurityInfoResult,
  type SecurityInfoResult,
} from './command-results.js';
import { MdmCommandError, toFieldIssues } from './errors.js';
import { checkInstallableProfile } from './installable-profile.js';
import type { PlistDict, PlistInput } from './plist-safe.js';

/**
 * Typed builders for the MDM commands the gateway sends, keyed exactly as Apple's mdm/commands/*.yaml
 * (so a queued command's `payload` from the SDK contract can be validated and built without renaming), and a
 * registry RequestType → { params schema, builder, result parser } the server uses to reject unknown RequestTypes.
 */

export type CommandDict = { RequestType: string; [key: string]: PlistInput | undefined };
export type MdmCommand = { CommandUUID: string; Command: CommandDict };

/**
 * What a user-owned iPhone/iPad inventory needs, all under the "device information" access right (16): no
 * network-information queries (phone number, MACs, ICCID need right 32, which the enrollment profile withholds).
 */
export const DEFAULT_DEVICE_INFORMATION_QUERIES = [
  'UDID',
  'DeviceName',
  'OSVersion',
  'BuildVersion',
  'ModelName',
  'Model',
  'ProductName',
  'SerialNumber',
  'IMEI',
  'MEID',
  'DeviceCapacity',
  'AvailableDeviceCapacity',
  'IsSupervised',
  'IsDeviceLocatorServiceEnabled',
  'IsActivationLockEnabled',
  'IsCloudBackupEnabled',
  'AwaitingConfiguration',
] as const;

const COMMAND_UUID = /^[A-Za-z0-9._:-]{1,128}$/;
const bundleId = z.string().min(1).max(255);
const httpsUrl = z
  .string()
  .max(2048)
  .regex(/^https:\/\/[^\s]+$/, 'must be an https URL');
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DATA_MESSAGE = 'must be base64 data: a base64 string, or { "base64": "…" }';

/** Bytes from what JSON (or the SDK) carries: a Uint8Array, a base64 string, or `{ base64 }` as history shows. */
function dataBytes(value: unknown): Buffer | undefined {
  if (value instanceof Uint8Array) {
    return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  let text: unknown = value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length !== 1 || keys[0] !== 'base64') return undefined;
    text = (value as { base64: unknown }).base64;
  }
  if (typeof text !== 'string') return undefined;
  // Line breaks as `base64` (GNU) wraps them are fine; anything else that is not base64 is refused.
  const compact = text.replace(/[\r\n\t ]+/g, '');
  return BASE64.test(compact) ? Buffer.from(compact, 'base64') : undefined;
}

/** How the OpenAPI document describes a `<data>` key (JSON cannot carry bytes). */
const DATA_JSON_SCHEMA = {
  anyOf: [
    { type: 'string', contentEncoding: 'base64' },
    {
      type: 'object',
      properties: { base64: { type: 'string', contentEncoding: 'base64' } },
      required: ['base64'],
      additionalProperties: false,
    },
  ],
};

/** A `<data>` key: base64 in JSON (a string, or `{ "base64": … }`), a Uint8Array from the SDK; yields a Buffer. */
const binary = z
  .custom<Uint8Array | string | { base64: string }>((value) => dataBytes(value) !== undefined, DATA_MESSAGE)
  .transform((value) => dataBytes(value) as Buffer)
  .meta({ ...DATA_JSON_SCHEMA, description: 'Data: a base64 string, or { "base64": … }' });

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !ArrayBuffer.isView(v);

/** Dictionary values from JSON: `{ "base64": … }` leaves become `<data>`, everything else stays as it is. */
function withData(value: unknown): PlistInput {
  if (Array.isArray(value)) return value.map(withData);
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'base64') {
      const bytes = dataBytes(value);
      if (bytes) return bytes;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withData(v)]));
  }
  return value as PlistInput;
}

const plistDictionary = z
  .custom<{ [key: string]: PlistInput }>(isPlainObject, 'must be a dictionary')
  .transform((value) => withData(value) as { [key: string]: PlistInput })
  .meta({
    type: 'object',
    description: 'A plist dictionary; `{ "base64": … }` values become <data>',
  });

/** InstallProfile's Payload: a .mobileconfig (XML, or CMS-signed) that passes the structural profile checks. */
const installableProfile = binary.superRefine((bytes, ctx) => {
  const check = checkInstallableProfile(bytes);
  if (check.ok) return;
  for (const issue of check.issues) {
    const path = issue.path === '(root)' ? [] : issue.path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    ctx.addIssue({ code: 'custom', message: issue.message, path });
  }
});

const deviceInformationParams = z.strictObject({
  Queries: z.array(z.string().min(1).max(128)).min(1).max(200).optional(),
  DeviceAttestationNonce: binary.refine((b) => b.length <= 32, 'at most 32 bytes').optional(),
});
const securityInfoParams = z.strictObject({});
const profileListParams = z.strictObject({ ManagedOnly: z.boolean().optional() });
const installProfileParams = z.strictObject({
  // A signed profile is CMS DER, an unsigned one XML; either way a well-formed profile of at most 4 MiB.
  Payload: installableProfile,
});
const removeProfileParams = z.strictObject({ Identifier: z.string().min(1).max(255) });
const installApplicationParams = z
  .strictObject({
    iTunesStoreID: z.number().int().positive().optional(),
    Identifier: bundleId.optional(),
    ManifestURL: httpsUrl.optional(),
    /** 1: remove with the MDM profile; 4: prevent backup; 5: both (the only values Apple allows). */
    ManagementFlags: z.union([z.literal(1), z.literal(4), z.literal(5)]).optional(),
    Options: z.strictObject({ PurchaseMethod: z.union([z.literal(0), z.literal(1)]).optional() }).optional(),
    Configuration: plistDictionary.optional(),
    Attributes: z
      .strictObject({
        VPNUUID: z.string().optional(),
        ContentFilterUUID: z.string().optional(),
        DNSProxyUUID: z.string().optional(),
        RelayUUID: z.string().optional(),
        CellularSliceUUID: z.string().optional(),
        AssociatedDomains: z.array(z.string()).optional(),
        AssociatedDomainsEnableDirectDownloads: z.boolean().optional(),
        Removable: z.boolean().optional(),
        TapToPayScreenLock: z.boolean().optional(),
        Hideable: z.boolean().optional(),
        Lockable: z.boolean().optional(),
      })
      .optional(),
    /** Take over an app the user already installed (iOS 9+; not with User Enrollment). */
    ChangeManagementState: z.literal('Managed').optional(),
    /** macOS 11+ only; iOS apps installed by MDM are always managed. */
    InstallAsManaged: z.boolean().optional(),
  })
  .refine(
    (p) => [p.iTunesStoreID, p.Identifier, p.ManifestURL].filter((v) => v !== undefined).length === 1,
    'exactly one of iTunesStoreID, Identifier or ManifestURL is required',
  );
const managedApplicationListParams = z.strictObject({ Identifiers: z.array(bundleId).max(500).optional() });
const installedApplicationListParams = z.strictObject({
  Identifiers: z.array(bundleId).max(500).optional(),
  ManagedAppsOnly: z.boolean().optional(),
});
const removeApplicationParams = z.strictObject({ Identifier: bundleId });
const deviceLockParams = z.strictObject({
  Message: z.string().max(1024).optional(),
  PhoneNumber: z.string().max(64).optional(),
  /** Find My PIN: macOS only (iOS ignores the key; the schema marks it unavailable there). */
  PIN: z
    .string()
    .regex(/^[0-9]{6}$/, 'must be six digits')
    .optional(),
});
/** The SynchronizationTokens JSON (ddm plugin): the device syncs when they differ from its own. */
const declarativeManagementParams = z.strictObject({ Data: binary.optional() });

export type DeviceInformationParams = z.input<typeof deviceInformationParams>;
export type SecurityInfoParams = z.input<typeof securityInfoParams>;
export type ProfileListParams = z.input<typeof profileListParams>;
export type InstallProfileParams = z.input<typeof installProfileParams>;
export type RemoveProfileParams = z.input<typeof removeProfileParams>;
export type InstallApplicationParams = z.input<typeof installApplicationParams>;
export type ManagedApplicationListParams = z.input<typeof managedApplicationListParams>;
export type InstalledApplicationListParams = z.input<typeof installedApplicationListParams>;
export type RemoveApplicationParams = z.input<typeof removeApplicationParams>;
export type DeviceLockParams = z.input<typeof deviceLockParams>;

export interface CommandDefinition<Params, Result> {
  requestType: string;
  /** The keys of the Command dictionary, as JSON carries them (data as base64); the admin API's schema. */
  params: z.ZodObject;
  /** Validates and builds; throws MdmCommandError('invalid-params'). `params` is untrusted (e.g. from a queue). */
  build(params: Params, commandUuid?: string): MdmCommand;
  /** Turns an Acknowledged report's `result` into a typed object; throws MdmCommandError('invalid-result'). */
  parseResult(result: PlistDict): Result;
}

function define<Schema extends z.ZodObject, Result>(
  requestType: string,
  schema: Schema,
  parseResult: (result: PlistDict) => Result,
  defaults: () => Partial<z.output<Schema>> = () => ({}),
): CommandDefinition<z.input<Schema>, Result> {
  return {
    requestType,
    params: schema,
    build(params, commandUuid = randomUUID()) {
      if (!COMMAND_UUID.test(commandUuid)) {
        throw new MdmCommandError('invalid-params', requestType, 'CommandUUID has unexpected characters');
      }
      const parsed = schema.safeParse(params ?? {});
      if (!parsed.success) {
        const issues = toFieldIssues(parsed.error.issues);
        const detail = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
        throw new MdmCommandError('invalid-params', requestType, `invalid ${requestType}: ${detail}`, issues);
      }
      const keys: Record<string, unknown> = { ...defaults() };
      for (const [key, value] of Object.entries(parsed.data)) if (value !== undefined) keys[key] = value;
      // Zod proved every value is plist-representable (strings, numbers, booleans, Buffers, dictionaries).
      return {
        CommandUUID: commandUuid,
        Command: { ...(keys as Record<string, PlistInput>), RequestType: requestType },
      };
    },
    parseResult,
  };
}

export const COMMAND_DEFINITIONS = {
  DeviceInformation: define('DeviceInformation', deviceInformationParams, parseDeviceInformationResult, () => ({
    Queries: [...DEFAULT_DEVICE_INFORMATION_QUERIES],
  })),
  SecurityInfo: define('SecurityInfo', securityInfoParams, parseSecurityInfoResult),
  ProfileList: define('ProfileList', profileListParams, parseProfileListResult),
  InstallProfile: define('InstallProfile', installProfileParams, parseEmptyResult),
  RemoveProfile: define('RemoveProfile', removeProfileParams, parseEmptyResult),
  InstallApplication: define('InstallApplication', installApplicationParams, parseInstallApplicationResult),
  ManagedApplicationList: define(
    'ManagedApplicationList',
    managedApplicationListParams,
    parseManagedApplicationListResult,
  ),
  // Privacy by default on personal devices: only the apps we manage, unless the caller asks for all of them.
  InstalledApplicationList: define(
    'InstalledApplicationList',
    installedApplicationListParams,
    parseInstalledApplicationListResult,
    () => ({ ManagedAppsOnly: true }),
  ),
  RemoveApplication: define('RemoveApplication', removeApplicationParams, parseEmptyResult),
  DeviceLock: define('DeviceLock', deviceLockParams, parseDeviceLockResult),
  DeclarativeManagement: define('DeclarativeManagement', declarativeManagementParams, parseEmptyResult),
} as const;

export type RegisteredRequestType = keyof typeof COMMAND_DEFINITIONS;
export type CommandResultOf<T extends RegisteredRequestType> = ReturnType<
  (typeof COMMAND_DEFINITIONS)[T]['parseResult']
>;
export const REGISTERED_REQUEST_TYPES = Object.keys(COMMAND_DEFINITIONS) as RegisteredRequestType[];

export function isRegisteredRequestType(requestType: string): requestType is RegisteredRequestType {
  return Object.hasOwn(COMMAND_DEFINITIONS, requestType);
}

/** Builds any registered command from untrusted input (e.g. the SDK's QueuedCommandInput). */
export function buildCommand(
  requestType: string,
  params: Record<string, unknown> = {},
  commandUuid?: string,
): MdmCommand {
  if (!isRegisteredRequestType(requestType)) {
    throw new MdmCommandError('unknown-request-type', requestType.slice(0, 64), 'unknown RequestType');
  }
  // Each definition validates `params` with its own schema, so widening to unknown input is safe here.
  const definition = COMMAND_DEFINITIONS[requestType] as CommandDefinition<unknown, unknown>;
  return definition.build(params, commandUuid);
}

/** Parses the result of an Acknowledged command of a registered type. */
export function parseCommandResult<T extends RegisteredRequestType>(
  requestType: T,
  result: PlistDict,
): CommandResultOf<T> {
  return COMMAND_DEFINITIONS[requestType].parseResult(result) as CommandResultOf<T>;
}

export const buildDeviceInformation = (params: DeviceInformationParams = {}, commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.DeviceInformation.build(params, commandUuid);
export const buildSecurityInfo = (commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.SecurityInfo.build({}, commandUuid);
export const buildProfileList = (params: ProfileListParams = {}, commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.ProfileList.build(params, commandUuid);
export const buildInstallProfile = (params: InstallProfileParams, commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.InstallProfile.build(params, commandUuid);
export const buildRemoveProfile = (params: RemoveProfileParams, commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.RemoveProfile.build(params, commandUuid);
export const buildInstallApplication = (params: InstallApplicationParams, commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.InstallApplication.build(params, commandUuid);
export const buildManagedApplicationList = (params: ManagedApplicationListParams = {}, commandUuid?: string) =>
  COMMAND_DEFINITIONS.ManagedApplicationList.build(params, commandUuid);
export const buildInstalledApplicationList = (params: InstalledApplicationListParams = {}, commandUuid?: string) =>
  COMMAND_DEFINITIONS.InstalledApplicationList.build(params, commandUuid);
export const buildRemoveApplication = (params: RemoveApplicationParams, commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.RemoveApplication.build(params, commandUuid);
export const buildDeviceLock = (params: DeviceLockParams = {}, commandUuid?: string): MdmCommand =>
  COMMAND_DEFINITIONS.DeviceLock.build(params, commandUuid);

export type {
  DeviceInformationResult,
  DeviceLockResult,
  EmptyResult,
  InstallApplicationResult,
  InstalledApplicationListResult,
  ManagedApplicationListResult,
  ProfileListResult,
  SecurityInfoResult,
};
