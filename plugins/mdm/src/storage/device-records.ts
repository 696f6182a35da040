import { modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema, type Types } from 'mongoose';

/**
 * The device's records, one writing role each (docs/architecture.md, "one writer per record"). On the test
 * database (FerretDB) an update is read -> change -> write back, so two roles updating one document lose each
 * other's writes; every record below is either written by exactly one role or changes only by insert/delete.
 */

/** What Authenticate says about the device (model, OS …): written with the binding, by the enrollment role. */
export interface AuthenticatedInfo {
  model?: string;
  productName?: string;
  osVersion?: string;
  buildVersion?: string;
  serialNumber?: string;
  deviceName?: string;
}

/**
 * Lifecycle facts of one enrollment, insert-only, `_id` "<enrollmentId>:<kind>": a transition happens once
 * (the unique insert is its claim) and two writers cannot lose each other's transitions. The enrollment
 * session's steps (downloaded, certificate-issued, cancelled) and the device's (authenticated, enrolled,
 * checked-out, retiring, retired) share the key space: a device enrollment is its session.
 */
export type FactKind =
  | 'downloaded'
  | 'certificate-issued'
  | 'cancelled'
  | 'authenticated'
  | 'enrolled'
  | 'checked-out'
  | 'retiring'
  | 'retired';

export interface FactDoc {
  _id: string;
  enrollmentId: string;
  kind: FactKind;
  at: Date;
  deviceId?: string;
  udid?: string;
  userId?: string;
  /** downloaded: the SCEP challenge minted for the profile, and the PayloadIdentifier served. */
  challengeHash?: string;
  profileIdentifier?: string;
  /** certificate-issued: the first identity. */
  certificateSerial?: string;
  reason?: string;
}

const factSchema = new Schema<FactDoc>(
  {
    _id: { type: String, required: true },
    enrollmentId: { type: String, required: true, index: true },
    kind: { type: String, required: true },
    at: { type: Date, required: true },
    deviceId: String,
    udid: String,
    userId: String,
    challengeHash: String,
    profileIdentifier: String,
    certificateSerial: String,
    reason: String,
  },
  { collection: 'mdm_lifecycle', versionKey: false },
);
factSchema.index({ deviceId: 1, kind: 1 });
factSchema.index({ kind: 1, at: 1 });
factSchema.index({ challengeHash: 1 });

export const factId = (enrollmentId: string, kind: FactKind) => `${enrollmentId}:${kind}`;

/**
 * A revocation, insert-only: "enrollment:<id>" revokes every identity of that enrollment (superseded,
 * checked out, retired, revoked by an admin's unenrollment), "certificate:<serial>" one certificate.
 */
export interface RevocationDoc {
  _id: string;
  enrollmentId?: string;
  serial?: string;
  reason: string;
  at: Date;
}

const revocationSchema = new Schema<RevocationDoc>(
  {
    _id: { type: String, required: true },
    enrollmentId: { type: String, index: true },
    serial: String,
    reason: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'mdm_revocations', versionKey: false },
);

export const enrollmentRevocation = (enrollmentId: string) => `enrollment:${enrollmentId}`;
export const certificateRevocation = (serial: string) => `certificate:${serial}`;

/** Last seen: written only by the work role's presence flush (PresenceMarks), to PRESENCE_RESOLUTION_MS. */
export interface PresenceDoc {
  _id: string; // device id
  lastSeenAt: Date;
}

const presenceSchema = new Schema<PresenceDoc>(
  { _id: { type: String, required: true }, lastSeenAt: { type: Date, required: true } },
  { collection: 'mdm_presence', versionKey: false },
);
// The wake sweep and inactivity rule read by range; the devices list pages in (lastSeenAt, _id) order.
presenceSchema.index({ lastSeenAt: 1, _id: 1 });

export type InventoryKind = 'info' | 'apps' | 'profiles';
export interface ManagedAppDoc {
  identifier: string;
  status?: string;
  version?: string;
  itunesStoreId?: number;
}
export interface InstalledProfileDoc {
  identifier: string;
  displayName?: string;
  uuid?: string;
}

/**
 * What the device reported in answers to commands, written only by the command-result role, one document per
 * kind ("<deviceId>:info|apps|profiles") so two answers of different kinds never share a document. Each carries
 * the enrollment it was reported under: a new enrollment starts without the earlier one's inventory.
 */
export interface InventoryDoc {
  _id: string;
  deviceId: string;
  enrollmentId: string;
  kind: InventoryKind;
  info?: AuthenticatedInfo;
  managedApps?: ManagedAppDoc[];
  installedProfiles?: InstalledProfileDoc[];
  at: Date;
}

const inventorySchema = new Schema<InventoryDoc>(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true, index: true },
    enrollmentId: { type: String, required: true },
    kind: { type: String, required: true },
    info: Schema.Types.Mixed,
    managedApps: [Schema.Types.Mixed],
    installedProfiles: [Schema.Types.Mixed],
    at: { type: Date, required: true },
  },
  { collection: 'mdm_inventory', versionKey: false },
);

export const inventoryId = (deviceId: string, kind: InventoryKind) => `${deviceId}:${kind}`;

/** The command-result role's writes: one document per device and kind, replaced whole. */
export interface InventoryStore {
  replace(doc: InventoryDoc): Promise<void>;
}

export function inventoryStore(models: Pick<DeviceRecordModels, 'inventory'>): InventoryStore {
  return {
    async replace(doc) {
      await models.inventory.collection.replaceOne({ _id: doc._id as never }, doc as never, { upsert: true });
    },
  };
}

/**
 * Push credentials of one enrollment of a device, "<deviceId>:<enrollmentId>", encrypted under the per-device
 * data key (device-secrets.ts); written by TokenUpdate (replaced whole) and deleted by crypto-erase. `version`
 * is new at every TokenUpdate: APNs' "invalid token" answers are their own insert-only records keyed by it, so
 * marking a token invalid never races a TokenUpdate, and a later TokenUpdate makes the device pushable again.
 */
export interface PushCredentialDoc {
  _id: string;
  deviceId: string;
  enrollmentId: string;
  version: string;
  topic?: string;
  pushTokenEncrypted: string;
  pushTokenHash: string;
  pushMagicEncrypted: string;
  unlockTokenEncrypted?: string;
  at: Date;
}

const pushCredentialSchema = new Schema<PushCredentialDoc>(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true, index: true },
    enrollmentId: { type: String, required: true },
    version: { type: String, required: true },
    topic: String,
    pushTokenEncrypted: { type: String, required: true },
    pushTokenHash: { type: String, required: true },
    pushMagicEncrypted: { type: String, required: true },
    unlockTokenEncrypted: String,
    at: { type: Date, required: true },
  },
  { collection: 'mdm_push_credentials', versionKey: false },
);

export const pushCredentialId = (deviceId: string, enrollmentId: string) => `${deviceId}:${enrollmentId}`;

/** APNs said this credential version's token is invalid: insert-only, "<credentialId>:<version>". */
export interface PushInvalidDoc {
  _id: string;
  deviceId: string;
  reason: string;
  at: Date;
}

const pushInvalidSchema = new Schema<PushInvalidDoc>(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true, index: true },
    reason: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'mdm_push_invalid', versionKey: false },
);

export const pushInvalidId = (credential: Pick<PushCredentialDoc, '_id' | 'version'>) =>
  `${credential._id}:${credential.version}`;

/** Start-up migrations that ran to the end (insert-only markers). */
export interface MigrationDoc {
  _id: string;
  at: Date;
}

const migrationSchema = new Schema<MigrationDoc>(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { collection: 'mdm_migrations', versionKey: false },
);

export interface DeviceRecordModels {
  facts: Model<FactDoc>;
  revocations: Model<RevocationDoc>;
  presence: Model<PresenceDoc>;
  inventory: Model<InventoryDoc>;
  pushCredentials: Model<PushCredentialDoc>;
  pushInvalid: Model<PushInvalidDoc>;
  migrations: Model<MigrationDoc>;
}

export function deviceRecordModels(connection: Connection): DeviceRecordModels {
  return {
    facts: modelOn(connection, 'MdmFact', factSchema),
    revocations: modelOn(connection, 'MdmRevocation', revocationSchema),
    presence: modelOn(connection, 'MdmPresence', presenceSchema),
    inventory: modelOn(connection, 'MdmInventory', inventorySchema),
    pushCredentials: modelOn(connection, 'MdmPushCredential', pushCredentialSchema),
    pushInvalid: modelOn(connection, 'MdmPushInvalid', pushInvalidSchema),
    migrations: modelOn(connection, 'MdmMigration', migrationSchema),
  };
}

export type { Types };
