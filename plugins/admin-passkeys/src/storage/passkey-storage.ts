import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * Local admins and their passkeys, as records that change only by insert (and delete), so no two roles ever
 * update one document (FerretDB applies an update as read → change → write back):
 * - an invite (passkey_invites): inserted by whoever invites, never changed;
 * - its claim (passkey_invite_claims): a unique insert by the registration that uses it, so a link works once;
 * - the admin (passkey_admins): inserted by that registration;
 * - the passkey (passkey_credentials): inserted by that registration;
 * - the passkey's signature counter (passkey_credential_use): written only by sign-ins with that passkey;
 * - a revocation (passkey_admin_revocations): a unique insert; the first one stands.
 */
export type AdminRole = 'read-only' | 'full';

export interface InviteRecord {
  /** SHA-256 (hex) of the link's secret: the secret itself is never stored. */
  _id: string;
  email: string;
  role: AdminRole;
  createdAt: Date;
  expiresAt: Date;
  createdBy: string;
}

export interface AdminRecord {
  _id: string;
  email: string;
  role: AdminRole;
  inviteId: string;
  createdAt: Date;
}

export interface CredentialRecord {
  /** The credential id, base64url. */
  _id: string;
  adminId: string;
  publicKey: Buffer;
  counter: number;
  transports: string[];
  createdAt: Date;
}

export interface RevocationRecord {
  _id: string;
  at: Date;
  by: string;
}

export interface InviteRecords {
  insertInvite(record: InviteRecord): Promise<void>;
  findInvite(id: string): Promise<InviteRecord | undefined>;
  /** The single-use claim: true for the one caller whose insert won. */
  claimInvite(inviteId: string, adminId: string, at: Date): Promise<boolean>;
  inviteClaimed(inviteId: string): Promise<boolean>;
}

export interface AdminRecords {
  insertAdmin(record: AdminRecord): Promise<void>;
  findAdmin(id: string): Promise<AdminRecord | undefined>;
  listAdmins(): Promise<AdminRecord[]>;
  /** Records the revocation unless one exists; answers the stored one either way. */
  revoke(adminId: string, at: Date, by: string): Promise<RevocationRecord>;
  revocations(adminIds: readonly string[]): Promise<Map<string, RevocationRecord>>;
}

export interface CredentialRecords {
  insertCredential(record: CredentialRecord): Promise<void>;
  findCredential(id: string): Promise<CredentialRecord | undefined>;
  credentialsOf(adminId: string): Promise<CredentialRecord[]>;
  /** The last counter a sign-in saw (the registration's when none yet). */
  lastCounter(credentialId: string): Promise<number | undefined>;
  recordUse(credentialId: string, counter: number, at: Date): Promise<void>;
}

export type PasskeyStorage = InviteRecords & AdminRecords & CredentialRecords;

const roleType = { type: String, enum: ['read-only', 'full'], required: true };

const inviteSchema = () =>
  new Schema<InviteRecord>(
    {
      _id: { type: String, required: true },
      email: { type: String, required: true },
      role: roleType,
      createdAt: { type: Date, required: true },
      expiresAt: { type: Date, required: true },
      createdBy: { type: String, required: true },
    },
    { collection: 'passkey_invites', versionKey: false },
  );

const claimSchema = () =>
  new Schema<{ _id: string; adminId: string; at: Date }>(
    { _id: { type: String, required: true }, adminId: { type: String, required: true }, at: Date },
    { collection: 'passkey_invite_claims', versionKey: false },
  );

const adminSchema = () => {
  const schema = new Schema<AdminRecord>(
    {
      _id: { type: String, required: true },
      email: { type: String, required: true },
      role: roleType,
      inviteId: { type: String, required: true },
      createdAt: { type: Date, required: true },
    },
    { collection: 'passkey_admins', versionKey: false },
  );
  schema.index({ email: 1 });
  return schema;
};

const credentialSchema = () => {
  const schema = new Schema<CredentialRecord>(
    {
      _id: { type: String, required: true },
      adminId: { type: String, required: true },
      publicKey: { type: Buffer, required: true },
      counter: { type: Number, required: true },
      transports: { type: [String], default: [] },
      createdAt: { type: Date, required: true },
    },
    { collection: 'passkey_credentials', versionKey: false },
  );
  schema.index({ adminId: 1 });
  return schema;
};

const useSchema = () =>
  new Schema<{ _id: string; counter: number; at: Date }>(
    { _id: { type: String, required: true }, counter: { type: Number, required: true }, at: Date },
    { collection: 'passkey_credential_use', versionKey: false },
  );

const revocationSchema = () =>
  new Schema<RevocationRecord>(
    { _id: { type: String, required: true }, at: { type: Date, required: true }, by: { type: String, required: true } },
    { collection: 'passkey_admin_revocations', versionKey: false },
  );

/** Lean reads return BSON Binary for Buffer fields. */
function bytes(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  const inner = (value as { buffer?: unknown }).buffer;
  return inner instanceof Uint8Array ? Buffer.from(inner) : Buffer.alloc(0);
}

async function insertOnce<T>(target: Model<T>, doc: T): Promise<boolean> {
  try {
    await target.create(doc);
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

export class MongoPasskeyStorage implements PasskeyStorage {
  private readonly invites: Model<InviteRecord>;
  private readonly claims: Model<{ _id: string; adminId: string; at: Date }>;
  private readonly admins: Model<AdminRecord>;
  private readonly credentials: Model<CredentialRecord>;
  private readonly uses: Model<{ _id: string; counter: number; at: Date }>;
  private readonly revocationRecords: Model<RevocationRecord>;

  constructor(connection: Connection) {
    this.invites = modelOn(connection, 'PasskeyInvite', inviteSchema);
    this.claims = modelOn(connection, 'PasskeyInviteClaim', claimSchema);
    this.admins = modelOn(connection, 'PasskeyAdmin', adminSchema);
    this.credentials = modelOn(connection, 'PasskeyCredential', credentialSchema);
    this.uses = modelOn(connection, 'PasskeyCredentialUse', useSchema);
    this.revocationRecords = modelOn(connection, 'PasskeyAdminRevocation', revocationSchema);
  }

  async prepare(): Promise<void> {
    await Promise.all([this.admins.init(), this.credentials.init()]);
  }

  async insertInvite(record: InviteRecord): Promise<void> {
    await this.invites.create(record);
  }

  async findInvite(id: string): Promise<InviteRecord | undefined> {
    return (await this.invites.findById(id).lean<InviteRecord>()) ?? undefined;
  }

  claimInvite(inviteId: string, adminId: string, at: Date): Promise<boolean> {
    return insertOnce(this.claims, { _id: inviteId, adminId, at });
  }

  async inviteClaimed(inviteId: string): Promise<boolean> {
    return (await this.claims.countDocuments({ _id: inviteId })) > 0;
  }

  async insertAdmin(record: AdminRecord): Promise<void> {
    await this.admins.create(record);
  }

  async findAdmin(id: string): Promise<AdminRecord | undefined> {
    return (await this.admins.findById(id).lean<AdminRecord>()) ?? undefined;
  }

  listAdmins(): Promise<AdminRecord[]> {
    return this.admins.find({}).sort({ createdAt: 1 }).lean<AdminRecord[]>().exec();
  }

  async revoke(adminId: string, at: Date, by: string): Promise<RevocationRecord> {
    if (await insertOnce(this.revocationRecords, { _id: adminId, at, by })) return { _id: adminId, at, by };
    return (await this.revocationRecords.findById(adminId).lean<RevocationRecord>()) ?? { _id: adminId, at, by };
  }

  async revocations(adminIds: readonly string[]): Promise<Map<string, RevocationRecord>> {
    if (adminIds.length === 0) return new Map();
    const docs = await this.revocationRecords.find({ _id: { $in: [...adminIds] } }).lean<RevocationRecord[]>();
    return new Map(docs.map((doc) => [doc._id, doc]));
  }

  async insertCredential(record: CredentialRecord): Promise<void> {
    await this.credentials.create(record);
  }

  async findCredential(id: string): Promise<CredentialRecord | undefined> {
    const doc = await this.credentials.findById(id).lean<CredentialRecord>();
    return doc ? { ...doc, publicKey: bytes(doc.publicKey) } : undefined;
  }

  async credentialsOf(adminId: string): Promise<CredentialRecord[]> {
    const docs = await this.credentials.find({ adminId }).lean<CredentialRecord[]>();
    return docs.map((doc) => ({ ...doc, publicKey: bytes(doc.publicKey) }));
  }

  async lastCounter(credentialId: string): Promise<number | undefined> {
    return (await this.uses.findById(credentialId).lean<{ counter: number }>())?.counter;
  }

  async recordUse(credentialId: string, counter: number, at: Date): Promise<void> {
    try {
      await this.uses.updateOne({ _id: credentialId }, { $set: { counter, at } }, { upsert: true });
    } catch (error) {
      // Two first sign-ins at once: both upserts insert and one is refused; the other recorded the use.
      if (!isDuplicateKeyError(error)) throw error;
    }
  }
}
