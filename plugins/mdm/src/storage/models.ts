import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema, type Types } from 'mongoose';
import { watchBindingWrites } from './binding-writes.js';
import { type CommandResultDoc, commandResultSchema } from './command-results.js';
import {
  type AuthenticatedInfo,
  type DeviceRecordModels,
  deviceRecordModels,
  type InstalledProfileDoc,
  type ManagedAppDoc,
} from './device-records.js';

export { onDeviceBindingChange } from './binding-writes.js';
export { type CommandResultDoc, finalResultId, resultId } from './command-results.js';

/**
 * The device binding: udid -> current enrollment, and what Authenticate said about the device. Written only
 * by the enrollment role (Authenticate); everything else about a device lives in its own records
 * (device-records.ts). Explicit collection names: backups, docs and admins read them.
 */
export interface DeviceDoc extends AuthenticatedInfo {
  _id: Types.ObjectId;
  /** The UDID; for a User Enrollment, the EnrollmentID the device reports instead. */
  udid: string;
  /** A User Enrollment: the device named itself by EnrollmentID (written by Authenticate, like the rest). */
  userEnrollment?: boolean;
  userId?: string;
  enrollmentId?: string;
  topic?: string;
  authenticatedAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Fields of mdm_devices before the one-writer split: read once by the start-up migration
 * (device-migration.ts), then removed by the next Authenticate of the device.
 */
export interface LegacyDeviceDoc extends DeviceDoc {
  state?: 'pending' | 'enrolled' | 'checked-out' | 'retiring' | 'retired';
  identityFingerprints?: string[];
  identityRevoked?: boolean;
  pushTokenEncrypted?: string;
  pushTokenHash?: string;
  pushMagicEncrypted?: string;
  unlockTokenEncrypted?: string;
  pushTokenInvalid?: { reason?: string; at?: Date };
  pushToken?: string;
  pushMagic?: string;
  unlockTokenSealed?: string;
  managedApps?: ManagedAppDoc[];
  installedProfiles?: InstalledProfileDoc[];
  enrolledAt?: Date;
  lastSeenAt?: Date;
  checkedOutAt?: Date;
  retiredAt?: Date;
}

/** Every legacy device field that holds a secret: what crypto-erase removes from a not yet re-enrolled device. */
export const DEVICE_SECRET_FIELDS = [
  'pushTokenEncrypted',
  'pushTokenHash',
  'pushMagicEncrypted',
  'unlockTokenEncrypted',
  'pushTokenInvalid',
  'pushToken',
  'pushMagic',
  'unlockTokenSealed',
] as const;

export const LEGACY_DEVICE_FIELDS = [
  'state',
  'identityFingerprints',
  'identityRevoked',
  ...DEVICE_SECRET_FIELDS,
  'managedApps',
  'installedProfiles',
  'enrolledAt',
  'lastSeenAt',
  'checkedOutAt',
  'retiredAt',
] as const;

const deviceSchema = new Schema<DeviceDoc>(
  {
    udid: { type: String, required: true, unique: true },
    userEnrollment: Boolean,
    userId: { type: String, index: true },
    enrollmentId: { type: String, index: true },
    topic: String,
    authenticatedAt: Date,
    model: String,
    productName: String,
    osVersion: String,
    buildVersion: String,
    serialNumber: String,
    deviceName: String,
  },
  { collection: 'mdm_devices', timestamps: true, versionKey: false },
);
watchBindingWrites(deviceSchema);

export type CommandState = 'queued' | 'sent' | 'not-now' | 'acknowledged' | 'error' | 'format-error' | 'cancelled';
/** Commands still waiting for an answer. */
export const PENDING_COMMAND_STATES: CommandState[] = ['queued', 'sent', 'not-now'];
export type DeviceState = 'pending' | 'enrolled' | 'checked-out' | 'retiring' | 'retired';
/** Device states in which the gateway still manages the device. */
export const MANAGED_DEVICE_STATES: DeviceState[] = ['pending', 'enrolled', 'retiring'];

export interface CommandDoc {
  _id: Types.ObjectId;
  deviceId: string;
  commandUuid: string;
  requestType: string;
  /**
   * The exact plist sent to the device, raw-deflated: a DeviceInformation command is 1 KB of XML and 0.4 KB
   * deflated, and every poll looks through the queue (on FerretDB's PostgreSQL backend a query scans the whole
   * collection, and a row over ~2 KB is compressed, so each scan would decompress every queued command).
   */
  plistDeflated?: Buffer;
  /** Commands queued before plistDeflated: the plist as is. */
  plist?: Buffer;
  origin: string;
  /** Enqueue order within a device: a per-device counter (command-mirror.ts), never a clock. */
  seq: number;
  /**
   * Before final records (mdm_command_results): the state, updated in place by the poll path and by
   * cancellations. Read for those commands only; a command's state is now derived from its results.
   */
  state?: CommandState;
  attempts?: number;
  sentAt?: Date;
  respondedAt?: Date;
  /** Before mdm_command_results: the device's answer, as received. Read for older commands only. */
  resultRaw?: Buffer;
  errorChain?: Record<string, unknown>[];
  createdAt: Date;
}

const commandSchema = new Schema<CommandDoc>(
  {
    deviceId: { type: String, required: true },
    commandUuid: { type: String, required: true },
    requestType: { type: String, required: true },
    plistDeflated: Buffer,
    plist: Buffer,
    origin: { type: String, required: true },
    seq: { type: Number, required: true },
    state: String,
    attempts: Number,
    sentAt: Date,
    respondedAt: Date,
    resultRaw: Buffer,
    errorChain: [Schema.Types.Mixed],
    createdAt: { type: Date, required: true },
  },
  { collection: 'mdm_commands', versionKey: false },
);
commandSchema.index({ deviceId: 1, commandUuid: 1 }, { unique: true });
commandSchema.index({ deviceId: 1, seq: 1 });
commandSchema.index({ state: 1, respondedAt: 1 });

/**
 * An enrollment session, written once when it is created. Its steps (downloaded, certificate-issued,
 * enrolled, cancelled) are insert-only facts (device-records.ts); `state`, `challengeHash`,
 * `certificateSerial`, `deviceId` and `cancelReason` were updated in place before, and are read only for
 * sessions of that time (migrated to facts at start).
 */
export interface EnrollmentDoc {
  _id: string;
  userId: string;
  profileId?: string;
  origin: string;
  downloadTokenHash: string;
  challengeHash: string;
  state: 'issued' | 'downloaded' | 'certificate-issued' | 'enrolled' | 'cancelled' | 'expired';
  expiresAt: Date;
  certificateSerial?: string;
  deviceId?: string;
  cancelReason?: string;
  /** PayloadIdentifier of the profile served for this session: unenrollment removes exactly that profile. */
  profileIdentifier?: string;
  /** Account-driven enrollment: the profile carries AssignedManagedAppleID and EnrollmentMode. */
  accountDriven?: { mode: 'BYOD' | 'ADDE'; managedAppleId: string };
  createdAt: Date;
  updatedAt: Date;
}

const enrollmentSchema = new Schema<EnrollmentDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    profileId: String,
    origin: String,
    downloadTokenHash: { type: String, required: true, unique: true },
    challengeHash: { type: String, required: true, unique: true },
    state: { type: String, required: true },
    expiresAt: { type: Date, required: true },
    certificateSerial: String,
    deviceId: String,
    cancelReason: String,
    profileIdentifier: String,
    accountDriven: { type: { _id: false, mode: String, managedAppleId: String }, required: false },
  },
  { collection: 'mdm_enrollments', timestamps: true, versionKey: false },
);

/**
 * An issued identity certificate, insert-only: SCEP records it with its enrollment, renewal inserts a new one.
 * Its status (revoked) comes from mdm_revocations. udid, deviceId and revokedAt were written in place before
 * the one-writer split and are only read for certificates of that time.
 */
export interface CertificateDoc {
  _id: string; // serial hex
  fingerprint: string;
  subject: string;
  enrollmentId?: string;
  udid?: string;
  deviceId?: string;
  notBefore: Date;
  notAfter: Date;
  revokedAt?: Date;
  revocationReason?: string;
  renewedFrom?: string;
  createdAt: Date;
}

const certificateSchema = new Schema<CertificateDoc>(
  {
    _id: { type: String, required: true },
    fingerprint: { type: String, required: true, unique: true },
    subject: { type: String, required: true },
    enrollmentId: { type: String, index: true },
    udid: { type: String, index: true },
    deviceId: { type: String, index: true },
    notBefore: { type: Date, required: true },
    notAfter: { type: Date, required: true },
    revokedAt: Date,
    revocationReason: String,
    renewedFrom: String,
  },
  { collection: 'mdm_certificates', timestamps: { createdAt: true, updatedAt: false }, versionKey: false },
);

export interface PkiDoc {
  _id: 'ca' | 'signing';
  certPem: string;
  keySealed: string;
  createdAt: Date;
}

const pkiSchema = new Schema<PkiDoc>(
  {
    _id: { type: String, required: true },
    certPem: { type: String, required: true },
    keySealed: { type: String, required: true },
  },
  { collection: 'mdm_pki', timestamps: { createdAt: true, updatedAt: false }, versionKey: false },
);

/**
 * The per-device data key (AES-256), sealed under the master key and bound to one enrollment of the device.
 * Kept apart from mdm_devices so deleting it crypto-erases every copy of the device's secrets.
 */
export interface DeviceKeyDoc {
  _id: string; // device id
  enrollmentId: string;
  keySealed: string;
  createdAt: Date;
}

const deviceKeySchema = new Schema<DeviceKeyDoc>(
  {
    _id: { type: String, required: true },
    enrollmentId: { type: String, required: true },
    keySealed: { type: String, required: true },
  },
  { collection: 'mdm_device_keys', timestamps: { createdAt: true, updatedAt: false }, versionKey: false },
);

/**
 * One-time claims ("download:<hash>", "challenge:<hash>"). A unique _id insert is the one
 * compare-and-set every MongoDB-wire server performs atomically (FerretDB's findAndModify is not),
 * so single use holds on both MongoDB and FerretDB.
 */
export interface ClaimDoc {
  _id: string;
  at: Date;
}

const claimSchema = new Schema<ClaimDoc>(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { collection: 'mdm_claims', versionKey: false },
);
// Pruned by the hourly maintenance job (FerretDB has no TTL indexes): a claim only has to outlive the
// session it guards (at most an hour), and expired sessions refuse their tokens on their own.
claimSchema.index({ at: 1 });
export const CLAIM_RETENTION_MS = 2 * 86_400_000;

export interface MdmModels extends DeviceRecordModels {
  devices: Model<DeviceDoc>;
  commands: Model<CommandDoc>;
  enrollments: Model<EnrollmentDoc>;
  certificates: Model<CertificateDoc>;
  pki: Model<PkiDoc>;
  claims: Model<ClaimDoc>;
  deviceKeys: Model<DeviceKeyDoc>;
  commandResults: Model<CommandResultDoc>;
}

export function mdmModels(connection: Connection): MdmModels {
  return {
    devices: modelOn(connection, 'MdmDevice', deviceSchema),
    commands: modelOn(connection, 'MdmCommand', commandSchema),
    enrollments: modelOn(connection, 'MdmEnrollment', enrollmentSchema),
    certificates: modelOn(connection, 'MdmCertificate', certificateSchema),
    pki: modelOn(connection, 'MdmPki', pkiSchema),
    claims: modelOn(connection, 'MdmClaim', claimSchema),
    deviceKeys: modelOn(connection, 'MdmDeviceKey', deviceKeySchema),
    commandResults: modelOn(connection, 'MdmCommandResult', commandResultSchema),
    ...deviceRecordModels(connection),
  };
}

/** True for the first caller only; false when the claim was already taken. */
export async function claimOnce(models: MdmModels, id: string): Promise<boolean> {
  return insertOnce(models.claims, { _id: id, at: new Date() });
}

/** A unique insert: true when this call created the record, false when it existed already. */
export async function insertOnce<T>(model: Model<T>, doc: Partial<T> & { _id: string }): Promise<boolean> {
  try {
    await model.collection.insertOne(doc as never);
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

export async function ensureIndexes(models: MdmModels): Promise<void> {
  await Promise.all(Object.values(models).map((m: Model<unknown>) => m.init()));
}
