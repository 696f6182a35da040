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
/** Accepts a Buffer or any Uint8Array (e.g. a BSON binary's bytes) and yields a Buffer. */
const binary = z
  .instanceof(Uint8Array)
  .transform((b) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
const plistDictionary = z.custom<{ [key: string]: PlistInput }>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !ArrayBuffer.isView(v),
  'must be a dictionary',
);

const deviceInformationParams = z.strictObject({
  Queries: z.array(z.string().min(1).max(128)).min(1).max(200).optional(),
  DeviceAttestationNonce: binary.refine((b) => b.length <= 32, 'at most 32 bytes').optional(),
});
const securityInfoParams = z.strictObject({});
const profileListParams = z.strictObject({ ManagedOnly: z.boolean().optional() });
const installProfileParams = z.strictObject({
  // A signed profile is CMS DER, an unsigned one XML; either way it must be non-empty and sane in size.
  Payload: binary.refine((b) => b.length > 0 && b.length <= 4 * 1024 * 1024, 'must be 1 byte to 4 MiB'),
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
  /** Validates and builds; throws MdmCommandError('invalid-params'). `params` is untrusted (e.g. from a queue). */
  build(params: Params, commandUuid?: string): MdmCommand;
  /** Turns an Acknowledged report's `result` into a typed object; throws MdmCommandError('invalid-result'). */
  parseResult(result: PlistDict): Result;
}

function define<Schema extends z.ZodType<Record<string, unknown>>, Result>(
  requestType: string,
  schema: Schema,
  parseResult: (result: PlistDict) => Result,
  defaults: () => Partial<z.output<Schema>> = () => ({}),
): CommandDefinition<z.input<Schema>, Result> {
  return {
    requestType,
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
