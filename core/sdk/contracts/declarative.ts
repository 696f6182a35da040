import { createExtensionPoint, createServiceRef } from '../refs.js';

/**
 * Declarative device management (DDM, docs/ddm.md). The ddm plugin owns the declaration point and the status
 * service; any plugin contributes declarations for a device and reads its latest status.
 */

/** One declaration as Apple defines it (declarative/declarations/*.yaml), without its ServerToken. */
export interface Declaration {
  /** "com.apple.configuration.passcode.settings", "com.apple.asset.data", "com.apple.management.properties". */
  type: string;
  /** Unique within the device's set, at most 64 octets; prefix it with your plugin's name. */
  identifier: string;
  /** The declaration's `Payload` dictionary: JSON values only. */
  payload: Record<string, unknown>;
}

/** The device a set is computed for: from its enrollment, its enrollment profile and its user's groups. */
export interface DeclarationTarget {
  deviceId: string;
  udid: string;
  userId?: string;
  enrollmentId?: string;
  /** The enrollment profile the device enrolled with, when known. */
  profileId?: string;
  /** Group object ids of the device's user (empty without a user directory). */
  groups: readonly string[];
  osVersion?: string;
  productName?: string;
}

/**
 * Contributes declarations to devices. Configurations you return are activated by one activation the ddm plugin
 * adds for your plugin, unless one of your own activations (`com.apple.activation.*`) references them. Called
 * on every sync of a device, so keep it to a query or two; the device's tokens change exactly when what you
 * return changes. After a change of your own data, call `DeclarativeManagement.requestSync(deviceIds)`.
 */
export interface DeclarationSource {
  declarationsFor(target: DeclarationTarget): Promise<Declaration[]>;
}
export const declarationsPoint = createExtensionPoint<DeclarationSource>('ddm.declarations');

/** The latest value of one status item a device reported (`softwareupdate.install-state`, …). */
export interface DeclarativeStatusItem {
  name: string;
  value: unknown;
  reportedAt: Date;
}

/** Where a device's software update stands against the OS update policy that applies to it. */
export interface SoftwareUpdateStanding {
  targetOSVersion: string;
  /** "yyyy-mm-ddThh:mm:ss", the device's local time. */
  deadline: string;
  /** 'available': not started; 'installed': the device runs the target or later; else the install state. */
  state: 'available' | 'waiting' | 'downloading' | 'prepared' | 'installing' | 'failed' | 'installed';
}

/** DDM for other plugins: latest status, the pending update, and re-syncs. Provided by the ddm plugin. */
export interface DeclarativeManagement {
  /** The latest status items of the device (empty when it never reported). */
  status(deviceId: string): Promise<DeclarativeStatusItem[]>;
  /** The OS update the device must install, when a policy applies and the device is not on it yet. */
  softwareUpdate(deviceId: string): Promise<SoftwareUpdateStanding | undefined>;
  /** Sends the DeclarativeManagement command to those devices whose set changed since their last sync. */
  requestSync(deviceIds: readonly string[]): Promise<{ deviceId: string; queued: boolean }[]>;
  /**
   * Since 2.12: whether the device takes declarations, so a plugin delivers its profile through
   * `legacyProfilesPoint` instead of InstallProfile. True for a managed device on iOS 15+ (or an OS not yet known)
   * that the ddm plugin syncs on enrollment or that already synced in its current enrollment. Ask once per
   * enrollment (on `device.enrolled`) and record the answer: the same device must never get both.
   */
  takesDeclarations?(deviceId: string): Promise<boolean>;
  /** Since 2.12: compares every device that ever synced and tells those whose set changed (after a settings save). */
  requestSyncAll?(): Promise<void>;
}
/**
 * Since 2.12: one configuration profile a plugin delivers by a `com.apple.configuration.legacy` declaration instead
 * of InstallProfile. The ddm plugin serves it at a tokenized `ProfileURL` (`/ddm/profiles/<token>`, an HMAC over
 * device, enrollment, identifier and the profile's digest) and activates it. The profile must hold no secrets: the
 * URL is a bearer capability.
 */
export interface LegacyProfile {
  /** The declaration's identifier: 1–64 of [A-Za-z0-9._-], prefixed with your plugin's name. */
  identifier: string;
  /**
   * The profile for this device (plist or signed bytes), or undefined when the device does not get it by
   * declaration (e.g. it got it by InstallProfile). Called on every sync and every download: the same inputs
   * must give the same bytes (the URL names their digest; a download whose bytes differ is 404). Sign once and
   * keep the signed bytes: a CMS signature carries its signing time.
   */
  profileFor(target: DeclarationTarget): Promise<Buffer | undefined>;
}
export const legacyProfilesPoint = createExtensionPoint<LegacyProfile>('ddm.legacyProfiles');

export const declarativeManagementRef = createServiceRef<DeclarativeManagement>('ddm.management');

/** The status item in which a device reports each declaration it holds (valid, active, and why not). */
export const DECLARATIONS_STATUS_ITEM = 'management.declarations';

const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Since 2.12: what a `management.declarations` status value says about one configuration: 'done' when the device
 * reports it valid and active, 'failed' with the device's first reason when invalid, undefined while it has not
 * judged it (or does not list it). For plugins that deliver something by declaration and follow its outcome.
 */
export function declarationOutcome(
  value: unknown,
  identifier: string,
): { state: 'done' | 'failed'; detail: string } | undefined {
  const configurations = isDict(value) && Array.isArray(value.configurations) ? value.configurations : [];
  const entry = configurations.find((c): c is Record<string, unknown> => isDict(c) && c.identifier === identifier);
  if (!entry || entry._removed === true) return undefined;
  if (entry.valid === 'valid' && entry.active === true) return { state: 'done', detail: 'installed by declaration' };
  if (entry.valid !== 'invalid') return undefined;
  const reasons = Array.isArray(entry.reasons) ? entry.reasons.filter(isDict) : [];
  const first = reasons[0];
  const why = first ? [first.code, first.description].filter((x) => typeof x === 'string').join(': ') : '';
  return { state: 'failed', detail: `device refused the declaration${why ? ` (${why})` : ''}` };
}
