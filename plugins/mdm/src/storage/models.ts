import { type Connection, type Model, Schema, type Types } from 'mongoose';
import { watchBindingWrites } from './binding-writes.js';
import { type CommandResultDoc, commandResultSchema } from './command-results.js';

export { onDeviceBindingChange } from './binding-writes.js';
export { type CommandResultDoc, latestAnswers, resultId } from './command-results.js';

/** Explicit collection names: backups, docs and admins read them. */
export interface DeviceDoc {
  _id: Types.ObjectId;
  udid: string;
  userId?: string;
  enrollmentId?: string;
  state: 'pending' | 'enrolled' | 'checked-out' | 'retiring' | 'retired';
  /** sha256 hex of the identity certificates the device may sign with (current, and the renewed one). */
  identityFingerprints: string[];
  identityRevoked: boolean;
  topic?: string;
  /**
   * The device's secrets, each encrypted under its per-device data key (mdm_device_keys): destroying that key
   * makes every copy unreadable, backups included (crypto-erase). See device-secrets.ts.
   */
  pushTokenEncrypted?: string;
  /** sha256 hex of the push token: matches APNs' "this token is invalid" answers without decrypting. */
  pushTokenHash?: string;
  pushMagicEncrypted?: string;
  /** Only set when the device sent one. */
  unlockTokenEncrypted?: string;
  pushTokenInvalid?: { reason: string; at: Date };
  /** Before crypto-erase: plaintext push token and PushMagic, UnlockToken sealed under the master key. Migrated at start. */
  pushToken?: string;
  pushMagic?: string;
  unlockTokenSealed?: string;
  model?: string;
  productName?: string;
  osVersion?: string;
  buildVersion?: string;
  serialNumber?: string;
  deviceName?: string;
  managedApps: { identifier: string; status?: string; version?: string; itunesStoreId?: number }[];
  installedProfiles: { identifier: string; displayName?: string; uuid?: string }[];
  enrolledAt?: Date;
  authenticatedAt?: Date;
  lastSeenAt?: Date;
  checkedOutAt?: Date;
  retiredAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

const deviceSchema = new Schema<DeviceDoc>(
  {
    udid: { type: String, required: true, unique: true },
    userId: { type: String, index: true },
    enrollmentId: String,
    state: { type: String, required: true, default: 'pending' },
    identityFingerprints: { type: [String], default: [] },
    identityRevoked: { type: Boolean, default: false },
    topic: String,
    pushTokenEncrypted: String,
    pushTokenHash: String,
    pushMagicEncrypted: String,
    unlockTokenEncrypted: String,
    pushTokenInvalid: { reason: String, at: Date },
    pushToken: String,
    pushMagic: String,
    unlockTokenSealed: String,
    model: String,
    productName: String,
    osVersion: String,
    buildVersion: String,
    serialNumber: String,
    deviceName: String,
    managedApps: {
      type: [{ _id: false, identifier: String, status: String, version: String, itunesStoreId: Number }],
      default: [],
    },
    installedProfiles: { type: [{ _id: false, identifier: String, displayName: String, uuid: String }], default: [] },
    enrolledAt: Date,
    authenticatedAt: Date,
    lastSeenAt: Date,
    checkedOutAt: Date,
    retiredAt: Date,
  },
  { collection: 'mdm_devices', timestamps: true, versionKey: false },
);
deviceSchema.index({ state: 1, lastSeenAt: 1 });

watchBindingWrites(deviceSchema);

export type CommandState = 'queued' | 'sent' | 'not-now' | 'acknowledged' | 'error' | 'format-error' | 'cancelled';
/** Commands still waiting for an answer. */
export const PENDING_COMMAND_STATES: CommandState[] = ['queued', 'sent', 'not-now'];
/** Every field that holds a device secret, current and legacy: what Authenticate and crypto-erase remove. */
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
/** Device states in which the gateway still manages the device. */
export const MANAGED_DEVICE_STATES: DeviceDoc['state'][] = ['pending', 'enrolled', 'retiring'];
export const DUPLICATE_KEY = 11000;

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
  /** Enqueue order within a device. */
  seq: number;
  state: CommandState;
  attempts: number;
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
    state: { type: String, required: true },
    attempts: { type: Number, default: 0 },
    sentAt: Date,
    respondedAt: Date,
    resultRaw: Buffer,
    errorChain: [Schema.Types.Mixed],
    createdAt: { type: Date, required: true },
  },
  { collection: 'mdm_commands', versionKey: false },
);
commandSchema.index({ deviceId: 1, commandUuid: 1 }, { unique: true });
commandSchema.index({ deviceId: 1, state: 1, seq: 1 });
commandSchema.index({ state: 1, respondedAt: 1 });

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
  },
  { collection: 'mdm_enrollments', timestamps: true, versionKey: false },
);

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
    enrollmentId: String,
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

export interface MdmModels {
  devices: Model<DeviceDoc>;
  commands: Model<CommandDoc>;
  enrollments: Model<EnrollmentDoc>;
  certificates: Model<CertificateDoc>;
  pki: Model<PkiDoc>;
  claims: Model<ClaimDoc>;
  deviceKeys: Model<DeviceKeyDoc>;
  commandResults: Model<CommandResultDoc>;
}

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function mdmModels(connection: Connection): MdmModels {
  return {
    devices: model(connection, 'MdmDevice', deviceSchema),
    commands: model(connection, 'MdmCommand', commandSchema),
    enrollments: model(connection, 'MdmEnrollment', enrollmentSchema),
    certificates: model(connection, 'MdmCertificate', certificateSchema),
    pki: model(connection, 'MdmPki', pkiSchema),
    claims: model(connection, 'MdmClaim', claimSchema),
    deviceKeys: model(connection, 'MdmDeviceKey', deviceKeySchema),
    commandResults: model(connection, 'MdmCommandResult', commandResultSchema),
  };
}

/** True for the first caller only; false when the claim was already taken. */
export async function claimOnce(models: MdmModels, id: string): Promise<boolean> {
  try {
    await models.claims.create({ _id: id, at: new Date() });
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
    throw error;
  }
}

export async function ensureIndexes(models: MdmModels): Promise<void> {
  await Promise.all(Object.values(models).map((m: Model<unknown>) => m.init()));
}
