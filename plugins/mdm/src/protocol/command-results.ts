import { z } from 'zod';
import { MdmCommandError, toFieldIssues } from './errors.js';
import type { PlistDict, PlistNode } from './plist-safe.js';

/**
 * Parsers for the `result` part of an Acknowledged command report (see report.ts), following the responsekeys of
 * Apple's mdm/commands/*.yaml. Known keys are type-checked; keys Apple adds later pass through untouched, and
 * enumerations are open-ended (devices report states newer than any schema snapshot).
 */

/** Keys a device may add beyond the ones typed below. */
type Extra = { [key: string]: PlistNode | undefined };

export interface DeviceQueryResponses extends Extra {
  UDID?: string;
  DeviceName?: string;
  OSVersion?: string;
  BuildVersion?: string;
  ModelName?: string;
  Model?: string;
  ModelNumber?: string;
  ProductName?: string;
  SerialNumber?: string;
  IMEI?: string;
  MEID?: string;
  DeviceCapacity?: number;
  AvailableDeviceCapacity?: number;
  BatteryLevel?: number;
  IsSupervised?: boolean;
  IsDeviceLocatorServiceEnabled?: boolean;
  IsActivationLockEnabled?: boolean;
  IsCloudBackupEnabled?: boolean;
  AwaitingConfiguration?: boolean;
}
export type DeviceInformationResult = DeviceQueryResponses;

export interface SecurityInfo extends Extra {
  HardwareEncryptionCaps?: number;
  PasscodePresent?: boolean;
  PasscodeCompliant?: boolean;
  PasscodeCompliantWithProfiles?: boolean;
  PasscodeLockGracePeriod?: number;
  PasscodeLockGracePeriodEnforced?: number;
}
export type SecurityInfoResult = SecurityInfo;

export interface ProfilePayloadSummary extends Extra {
  PayloadType: string;
  PayloadIdentifier: string;
  PayloadUUID?: string;
  PayloadVersion?: number;
  PayloadDisplayName?: string;
  PayloadDescription?: string;
  PayloadOrganization?: string;
}

export interface ProfileListItem {
  [key: string]: PlistNode | ProfilePayloadSummary[] | undefined;
  PayloadIdentifier: string;
  PayloadUUID: string;
  PayloadVersion?: number;
  PayloadDisplayName?: string;
  PayloadOrganization?: string;
  PayloadDescription?: string;
  PayloadRemovalDisallowed?: boolean;
  HasRemovalPasscode?: boolean;
  IsEncrypted?: boolean;
  IsManaged?: boolean;
  Source?: string;
  SignerCertificates?: Buffer[];
  PayloadContent?: ProfilePayloadSummary[];
}
export type ProfileListResult = ProfileListItem[];

export const MANAGED_APP_STATUSES = [
  'Queued',
  'NeedsRedemption',
  'Redeeming',
  'Prompting',
  'PromptingForLogin',
  'ValidatingPurchase',
  'PromptingForUpdate',
  'PromptingForUpdateLogin',
  'PromptingForManagement',
  'ValidatingUpdate',
  'Updating',
  'Installing',
  'Managed',
  'ManagedButUninstalled',
  'Unknown',
  'UserInstalledApp',
  'UserRejected',
  'UpdateRejected',
  'ManagementRejected',
  'Failed',
] as const;
/** One of MANAGED_APP_STATUSES, or a newer value Apple added. */
export type ManagedAppStatus = (typeof MANAGED_APP_STATUSES)[number] | (string & {});

export interface ManagedAppState extends Extra {
  Status: ManagedAppStatus;
  ManagementFlags?: number;
  UnusedRedemptionCode?: string;
  HasConfiguration?: boolean;
  HasFeedback?: boolean;
  IsValidated?: boolean;
  ExternalVersionIdentifier?: number;
}
/** Keyed by bundle identifier. */
export type ManagedApplicationListResult = Record<string, ManagedAppState>;

export interface InstalledApplication extends Extra {
  Identifier?: string;
  Name?: string;
  Version?: string;
  ShortVersion?: string;
  BundleSize?: number;
  DynamicSize?: number;
  ExternalVersionIdentifier?: number;
  IsValidated?: boolean;
  Installing?: boolean;
  HasUpdateAvailable?: boolean;
  IsAppClip?: boolean;
}
export type InstalledApplicationListResult = InstalledApplication[];

export interface InstallApplicationResult extends Extra {
  Identifier?: string;
  /** e.g. 'Queued', 'Prompting', 'Installing', 'Managed', 'UserRejected', 'Failed'. */
  State?: string;
  RejectionReason?: string;
}

export interface DeviceLockResult extends Extra {
  /** 'Success', 'DeviceInLostMode', 'NoPasscodeSet' or 'Unknown'. */
  MessageResult?: string;
}

export type EmptyResult = Record<string, never>;

const int = z.number().int();
const data = z.instanceof(Buffer);

const queryResponses = z.looseObject({
  UDID: z.string().optional(),
  DeviceName: z.string().optional(),
  OSVersion: z.string().optional(),
  BuildVersion: z.string().optional(),
  ModelName: z.string().optional(),
  Model: z.string().optional(),
  ModelNumber: z.string().optional(),
  ProductName: z.string().optional(),
  SerialNumber: z.string().optional(),
  IMEI: z.string().optional(),
  MEID: z.string().optional(),
  DeviceCapacity: z.number().optional(),
  AvailableDeviceCapacity: z.number().optional(),
  BatteryLevel: z.number().optional(),
  IsSupervised: z.boolean().optional(),
  IsDeviceLocatorServiceEnabled: z.boolean().optional(),
  IsActivationLockEnabled: z.boolean().optional(),
  IsCloudBackupEnabled: z.boolean().optional(),
  AwaitingConfiguration: z.boolean().optional(),
});

const securityInfo = z.looseObject({
  HardwareEncryptionCaps: int.optional(),
  PasscodePresent: z.boolean().optional(),
  PasscodeCompliant: z.boolean().optional(),
  PasscodeCompliantWithProfiles: z.boolean().optional(),
  PasscodeLockGracePeriod: int.optional(),
  PasscodeLockGracePeriodEnforced: int.optional(),
});

const profilePayloadSummary = z.looseObject({
  PayloadType: z.string(),
  PayloadIdentifier: z.string(),
  PayloadUUID: z.string().optional(),
  PayloadVersion: int.optional(),
  PayloadDisplayName: z.string().optional(),
  PayloadDescription: z.string().optional(),
  PayloadOrganization: z.string().optional(),
});

const profileListItem = z.looseObject({
  PayloadIdentifier: z.string(),
  PayloadUUID: z.string(),
  PayloadVersion: int.optional(),
  PayloadDisplayName: z.string().optional(),
  PayloadOrganization: z.string().optional(),
  PayloadDescription: z.string().optional(),
  PayloadRemovalDisallowed: z.boolean().optional(),
  HasRemovalPasscode: z.boolean().optional(),
  IsEncrypted: z.boolean().optional(),
  IsManaged: z.boolean().optional(),
  Source: z.string().optional(),
  SignerCertificates: z.array(data).optional(),
  PayloadContent: z.array(profilePayloadSummary).optional(),
});

const managedAppState = z.looseObject({
  Status: z.string(),
  ManagementFlags: int.optional(),
  UnusedRedemptionCode: z.string().optional(),
  HasConfiguration: z.boolean().optional(),
  HasFeedback: z.boolean().optional(),
  IsValidated: z.boolean().optional(),
  ExternalVersionIdentifier: int.optional(),
});

const installedApplication = z.looseObject({
  Identifier: z.string().optional(),
  Name: z.string().optional(),
  Version: z.string().optional(),
  ShortVersion: z.string().optional(),
  BundleSize: int.optional(),
  DynamicSize: int.optional(),
  ExternalVersionIdentifier: int.optional(),
  IsValidated: z.boolean().optional(),
  Installing: z.boolean().optional(),
  HasUpdateAvailable: z.boolean().optional(),
  IsAppClip: z.boolean().optional(),
});

function check<T>(requestType: string, schema: z.ZodType, value: PlistDict): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error.issues);
    const detail = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new MdmCommandError('invalid-result', requestType, `invalid ${requestType} result: ${detail}`, issues);
  }
  // looseObject keeps unknown keys, and every value came from parseDevicePlist, so it is a PlistNode tree.
  return parsed.data as T;
}

export const parseDeviceInformationResult = (result: PlistDict): DeviceInformationResult =>
  check<{ QueryResponses: DeviceQueryResponses }>(
    'DeviceInformation',
    z.looseObject({ QueryResponses: queryResponses }),
    result,
  ).QueryResponses;

export const parseSecurityInfoResult = (result: PlistDict): SecurityInfoResult =>
  check<{ SecurityInfo: SecurityInfo }>('SecurityInfo', z.looseObject({ SecurityInfo: securityInfo }), result)
    .SecurityInfo;

export const parseProfileListResult = (result: PlistDict): ProfileListResult =>
  check<{ ProfileList: ProfileListItem[] }>(
    'ProfileList',
    z.looseObject({ ProfileList: z.array(profileListItem) }),
    result,
  ).ProfileList;

export const parseManagedApplicationListResult = (result: PlistDict): ManagedApplicationListResult =>
  check<{ ManagedApplicationList: ManagedApplicationListResult }>(
    'ManagedApplicationList',
    z.looseObject({ ManagedApplicationList: z.record(z.string(), managedAppState) }),
    result,
  ).ManagedApplicationList;

export const parseInstalledApplicationListResult = (result: PlistDict): InstalledApplicationListResult =>
  check<{ InstalledApplicationList: InstalledApplication[] }>(
    'InstalledApplicationList',
    z.looseObject({ InstalledApplicationList: z.array(installedApplication) }),
    result,
  ).InstalledApplicationList;

export const parseInstallApplicationResult = (result: PlistDict): InstallApplicationResult =>
  check<InstallApplicationResult>(
    'InstallApplication',
    z.looseObject({
      Identifier: z.string().optional(),
      State: z.string().optional(),
      RejectionReason: z.string().optional(),
    }),
    result,
  );

export const parseDeviceLockResult = (result: PlistDict): DeviceLockResult =>
  check<DeviceLockResult>('DeviceLock', z.looseObject({ MessageResult: z.string().optional() }), result);

/** Commands whose acknowledgement carries no response keys. Extra keys are ignored, not an error. */
export const parseEmptyResult = (_result: PlistDict): EmptyResult => ({});
