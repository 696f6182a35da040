/**
 * What a simulated iPhone knows and how it answers MDM commands: pure (no I/O), so unit tests can drive it
 * directly and the HTTP layer only ferries plists. Answers follow Apple's mdm/commands/*.yaml responsekeys for iOS.
 * ErrorChain codes imitate what iOS sends (MCMDMErrorDomain / MCProfileErrorDomain); they are close to, not
 * guaranteed identical with, a real device's.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { CommandStatus, PlistDict, PlistInput, PlistNode } from '../../plugins/mdm/src/protocol/index.js';
import { DeviceSimulatorError } from './device-simulator-http.js';
import type { DeviceInfo } from './device-simulator-info.js';
import { type InstalledProfile, readInstallableProfile } from './device-simulator-profile.js';

// A type alias (not an interface) so it is assignable to PlistInput's index signature.
export type ErrorChainEntry = {
  ErrorCode: number;
  ErrorDomain: string;
  LocalizedDescription: string;
  USEnglishDescription: string;
};

export type ScriptedStatus = Exclude<CommandStatus, 'Idle'>;

/** A programmed answer: the next `times` commands of `RequestType` get `respond` instead of the normal answer. */
export interface CommandScript {
  RequestType: string;
  respond: ScriptedStatus;
  /** Default 1; Infinity for "always". */
  times?: number;
  errorChain?: ErrorChainEntry[];
  /** Extra response keys (Acknowledged only), merged over the normal answer. */
  result?: Record<string, PlistInput>;
}

export interface CommandAnswer {
  status: ScriptedStatus;
  /** Response keys (everything but the report envelope). */
  keys: Record<string, PlistInput | undefined>;
  errorChain?: ErrorChainEntry[];
  /** The command removed the enrollment profile: the device reports, then checks out and stops talking MDM. */
  unenrolled?: boolean;
  /** InstallProfile carried the enrollment profile: the device replaces it (and its identity) before answering. */
  replaceEnrollment?: Buffer;
}

export interface ManagedApp {
  bundleId: string;
  name: string;
  version: string;
  status: 'Installing' | 'Managed';
  managementFlags: number;
  hasConfiguration: boolean;
  iTunesStoreId?: number;
  /** Polls left before an Installing app becomes Managed. */
  pollsUntilManaged: number;
}

/** App Store IDs the simulator knows by name; others install as `app.<id>`. */
export const KNOWN_APPS: Readonly<Record<number, { bundleId: string; name: string; version: string }>> = {
  983156458: { bundleId: 'com.azure.authenticator', name: 'Authenticator', version: '6.8.10' },
  951937596: { bundleId: 'com.microsoft.Office.Outlook', name: 'Microsoft Outlook', version: '4.2421.0' },
  719171358: { bundleId: 'com.microsoft.CompanyPortal', name: 'Comp Portal', version: '5.2405.0' },
  1113153706: { bundleId: 'com.microsoft.skype.teams', name: 'Microsoft Teams', version: '6.10.0' },
};

/** AccessRights bit each handled RequestType needs (com.apple.mdm AccessRights). */
const REQUIRED_RIGHT: Record<string, number> = {
  DeviceInformation: 16,
  SecurityInfo: 1024,
  ProfileList: 1,
  InstallProfile: 2,
  RemoveProfile: 2,
  InstallApplication: 4096,
  RemoveApplication: 4096,
  ManagedApplicationList: 4096,
  InstalledApplicationList: 256,
  DeviceLock: 4,
};

export function errorChain(code: number, domain: string, description: string): ErrorChainEntry[] {
  return [
    { ErrorCode: code, ErrorDomain: domain, LocalizedDescription: description, USEnglishDescription: description },
  ];
}

const formatError = (message: string): CommandAnswer => ({
  status: 'CommandFormatError',
  keys: {},
  errorChain: errorChain(12001, 'MCMDMErrorDomain', `Invalid request: ${message}`),
});
const ack = (keys: Record<string, PlistInput> = {}): CommandAnswer => ({ status: 'Acknowledged', keys });

export class DeviceState {
  readonly profiles = new Map<string, InstalledProfile>();
  readonly apps = new Map<string, ManagedApp>();
  /** Scripts still active, in the order they were added. */
  readonly scripts: CommandScript[] = [];
  enrollmentProfileId?: string;
  accessRights = 0;
  /** Identity used to open encrypted profiles (set once SCEP succeeded). */
  identity?: { certDer: Buffer; key: KeyObject };
  lockCount = 0;
  /** Apple's DevicePropertiesAttestation chain for the DeviceInformation being answered (set by the device). */
  propertiesAttestation?: Buffer[];
  /** Answers for request types an add-on handles (device-simulator-ddm.ts: DeclarativeManagement), before the rest. */
  readonly commandHandlers = new Map<string, (command: PlistDict) => CommandAnswer>();
  /** Run when MDM state goes (the add-ons' state goes with it). */
  readonly onUnenroll: (() => void)[] = [];

  constructor(
    readonly info: DeviceInfo,
    private readonly installPolls = 1,
  ) {}

  script(rule: CommandScript): void {
    this.scripts.push({ ...rule, times: rule.times ?? 1 });
  }

  /** Called at the start of each poll session: apps finish installing after `installPolls` sessions. */
  advanceTime(): void {
    for (const app of this.apps.values()) {
      if (app.status !== 'Installing') continue;
      app.pollsUntilManaged -= 1;
      if (app.pollsUntilManaged <= 0) app.status = 'Managed';
    }
  }

  /** Forget everything MDM put on the device (after CheckOut / removal of the enrollment profile). */
  unenroll(): void {
    for (const [id, profile] of this.profiles) if (profile.installedBy !== 'user') this.profiles.delete(id);
    // ManagementFlags bit 1: remove the app when the MDM profile goes.
    for (const [id, app] of this.apps) if (app.managementFlags & 1) this.apps.delete(id);
    this.enrollmentProfileId = undefined;
    for (const hook of this.onUnenroll) hook();
  }

  answer(command: PlistDict): CommandAnswer {
    const requestType = typeof command.RequestType === 'string' ? command.RequestType : '';
    const scripted = this.takeScript(requestType, command);
    if (scripted) return scripted;
    const handler = this.commandHandlers.get(requestType);
    if (handler) return handler(command);
    const right = REQUIRED_RIGHT[requestType];
    if (right === undefined) {
      return {
        status: 'Error',
        keys: {},
        errorChain: errorChain(12021, 'MCMDMErrorDomain', `The request type “${requestType}” is not supported.`),
      };
    }
    if ((this.accessRights & right) === 0) {
      return {
        status: 'Error',
        keys: {},
        errorChain: errorChain(12023, 'MCMDMErrorDomain', 'The MDM server is not authorized to make this request.'),
      };
    }
    switch (requestType) {
      case 'DeviceInformation':
        return this.deviceInformation(command);
      case 'SecurityInfo':
        return ack({
          SecurityInfo: {
            HardwareEncryptionCaps: 3,
            PasscodePresent: this.info.passcodePresent,
            PasscodeCompliant: this.info.passcodePresent,
            PasscodeCompliantWithProfiles: this.info.passcodePresent,
          },
        });
      case 'ProfileList':
        return ack({ ProfileList: [...this.profiles.values()].map(profileListItem) });
      case 'InstallProfile':
        return this.installProfile(command);
      case 'RemoveProfile':
        return this.removeProfile(command);
      case 'InstallApplication':
        return this.installApplication(command);
      case 'ManagedApplicationList':
        return this.managedApplicationList(command);
      case 'InstalledApplicationList':
        return this.installedApplicationList(command);
      case 'RemoveApplication':
        return this.removeApplication(command);
      default: // DeviceLock
        this.lockCount += 1;
        return ack();
    }
  }

  private takeScript(requestType: string, command: PlistDict): CommandAnswer | undefined {
    const index = this.scripts.findIndex((s) => s.RequestType === requestType);
    if (index === -1) return undefined;
    const rule = this.scripts[index];
    rule.times = (rule.times ?? 1) - 1;
    if (rule.times <= 0) this.scripts.splice(index, 1);
    switch (rule.respond) {
      case 'NotNow':
        return { status: 'NotNow', keys: {} };
      case 'Error':
        return {
          status: 'Error',
          keys: {},
          errorChain: rule.errorChain ?? errorChain(12000, 'MCMDMErrorDomain', 'Simulated failure.'),
        };
      case 'CommandFormatError':
        return { status: 'CommandFormatError', keys: {}, errorChain: rule.errorChain };
      default: {
        // Acknowledged: run the real handler (state changes happen), then overlay the scripted keys.
        const saved = this.scripts.splice(0);
        try {
          const real = this.answer(command);
          return { ...real, status: 'Acknowledged', keys: { ...real.keys, ...rule.result } };
        } finally {
          this.scripts.push(...saved);
        }
      }
    }
  }

  private deviceInformation(command: PlistDict): CommandAnswer {
    const queries = command.Queries;
    if (!Array.isArray(queries) || !queries.every((q) => typeof q === 'string')) {
      return formatError('Queries must be an array of strings');
    }
    const nonce = command.DeviceAttestationNonce;
    if (nonce !== undefined && (!Buffer.isBuffer(nonce) || nonce.length === 0 || nonce.length > 32))
      return formatError('DeviceAttestationNonce must be 1 to 32 bytes of data');
    const i = this.info;
    const known: Record<string, PlistInput | undefined> = {
      DevicePropertiesAttestation: this.propertiesAttestation,
      UDID: i.udid,
      DeviceName: i.deviceName,
      OSVersion: i.osVersion,
      BuildVersion: i.buildVersion,
      ModelName: i.modelName,
      Model: i.model,
      ModelNumber: i.modelNumber,
      ProductName: i.productName,
      SerialNumber: i.serialNumber,
      IMEI: i.imei,
      DeviceCapacity: i.deviceCapacityGb,
      AvailableDeviceCapacity: i.availableCapacityGb,
      BatteryLevel: i.batteryLevel,
      IsSupervised: i.isSupervised,
      IsDeviceLocatorServiceEnabled: true,
      IsActivationLockEnabled: true,
      IsCloudBackupEnabled: true,
      IsMDMLostModeEnabled: false,
      AwaitingConfiguration: false,
      IsMultiUser: false,
      TimeZone: 'Europe/Berlin',
    };
    const responses: Record<string, PlistInput> = {};
    // iOS answers the keys it knows and silently skips the rest.
    for (const key of queries as string[]) {
      const value = known[key];
      if (value !== undefined) responses[key] = value;
    }
    return ack({ QueryResponses: responses });
  }

  private installProfile(command: PlistDict): CommandAnswer {
    if (!Buffer.isBuffer(command.Payload)) return formatError('Payload must be <data>');
    let profile: InstalledProfile;
    try {
      profile = readInstallableProfile(command.Payload, 'mdm', this.identity);
    } catch (error) {
      const message = error instanceof DeviceSimulatorError ? error.message : String(error);
      return { status: 'Error', keys: {}, errorChain: errorChain(1000, 'MCProfileErrorDomain', message) };
    }
    // The enrollment profile again (same identifier): iOS replaces it if its MDM settings are unchanged.
    if (profile.identifier === this.enrollmentProfileId) return { ...ack(), replaceEnrollment: command.Payload };
    if (profile.payloads.some((p) => p.PayloadType === 'com.apple.mdm')) {
      return {
        status: 'Error',
        keys: {},
        errorChain: errorChain(4001, 'MCInstallationErrorDomain', 'An MDM payload cannot be installed by MDM.'),
      };
    }
    // Same identifier replaces the installed profile, as on iOS.
    this.profiles.set(profile.identifier, profile);
    return ack();
  }

  private removeProfile(command: PlistDict): CommandAnswer {
    if (typeof command.Identifier !== 'string') return formatError('Identifier must be a string');
    const profile = this.profiles.get(command.Identifier);
    if (!profile) {
      return {
        status: 'Error',
        keys: {},
        errorChain: errorChain(1001, 'MCProfileErrorDomain', `The profile “${command.Identifier}” is not installed.`),
      };
    }
    if (profile.installedBy === 'enrollment') {
      this.unenroll();
      return { ...ack(), unenrolled: true };
    }
    this.profiles.delete(profile.identifier);
    return ack();
  }

  private installApplication(command: PlistDict): CommandAnswer {
    const storeId = typeof command.iTunesStoreID === 'number' ? command.iTunesStoreID : undefined;
    let bundleId: string;
    let name: string;
    let version = '1.0';
    if (storeId !== undefined) {
      const known = KNOWN_APPS[storeId];
      bundleId = known?.bundleId ?? `app.${storeId}`;
      name = known?.name ?? `App ${storeId}`;
      version = known?.version ?? version;
    } else if (typeof command.Identifier === 'string') {
      bundleId = command.Identifier;
      name = bundleId.split('.').pop() ?? bundleId;
    } else if (typeof command.ManifestURL === 'string') {
      bundleId = `app.manifest.${createHash('sha256').update(command.ManifestURL).digest('hex').slice(0, 12)}`;
      name = 'In-house app';
    } else {
      return formatError('one of iTunesStoreID, Identifier or ManifestURL is required');
    }
    const flags = typeof command.ManagementFlags === 'number' ? command.ManagementFlags : 0;
    const existing = this.apps.get(bundleId);
    if (existing) {
      existing.managementFlags = flags;
      return ack({ Identifier: bundleId, State: existing.status });
    }
    this.apps.set(bundleId, {
      bundleId,
      name,
      version,
      status: 'Installing',
      managementFlags: flags,
      hasConfiguration: isPlistDict(command.Configuration),
      iTunesStoreId: storeId,
      pollsUntilManaged: this.installPolls,
    });
    return ack({ Identifier: bundleId, State: 'Installing' });
  }

  private selectedApps(command: PlistDict): ManagedApp[] {
    const wanted = Array.isArray(command.Identifiers)
      ? new Set(command.Identifiers.filter((x): x is string => typeof x === 'string'))
      : undefined;
    return [...this.apps.values()].filter((app) => !wanted || wanted.has(app.bundleId));
  }

  private managedApplicationList(command: PlistDict): CommandAnswer {
    const list: Record<string, PlistInput> = {};
    for (const app of this.selectedApps(command)) {
      list[app.bundleId] = {
        Status: app.status,
        ManagementFlags: app.managementFlags,
        HasConfiguration: app.hasConfiguration,
        HasFeedback: false,
        IsValidated: true,
        ExternalVersionIdentifier: externalVersion(app),
      };
    }
    return ack({ ManagedApplicationList: list });
  }

  private installedApplicationList(command: PlistDict): CommandAnswer {
    const list = this.selectedApps(command).map((app) => ({
      Identifier: app.bundleId,
      Name: app.name,
      Version: app.version,
      ShortVersion: app.version,
      BundleSize: 104_857_600,
      DynamicSize: 4_194_304,
      ExternalVersionIdentifier: externalVersion(app),
      IsValidated: true,
      Installing: app.status === 'Installing',
      AppStoreVendable: app.iTunesStoreId !== undefined,
      DeviceBasedVPP: false,
      BetaApp: false,
      AdHocCodeSigned: false,
      HasUpdateAvailable: false,
    }));
    return ack({ InstalledApplicationList: list });
  }

  private removeApplication(command: PlistDict): CommandAnswer {
    if (typeof command.Identifier !== 'string') return formatError('Identifier must be a string');
    if (!this.apps.delete(command.Identifier)) {
      return {
        status: 'Error',
        keys: {},
        errorChain: errorChain(12029, 'MCMDMErrorDomain', `The app “${command.Identifier}” is not managed.`),
      };
    }
    return ack();
  }
}

function externalVersion(app: ManagedApp): number {
  return 860_000_000 + (createHash('sha256').update(app.bundleId).digest().readUInt32BE(0) % 1_000_000);
}

function isPlistDict(value: PlistNode | undefined): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !Buffer.isBuffer(value)
  );
}

export function profileListItem(profile: InstalledProfile): { [key: string]: PlistInput | undefined } {
  return {
    PayloadIdentifier: profile.identifier,
    PayloadUUID: profile.uuid,
    PayloadVersion: profile.version,
    PayloadDisplayName: profile.displayName,
    PayloadOrganization: profile.organization,
    PayloadDescription: profile.description,
    PayloadRemovalDisallowed: profile.removalDisallowed,
    HasRemovalPasscode: false,
    IsEncrypted: profile.encrypted,
    SignerCertificates: profile.signerCertificates.length ? profile.signerCertificates : undefined,
    PayloadContent: profile.payloads.map((p) => ({ ...p })),
  };
}
