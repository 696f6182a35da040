import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * API keys are stored as three records, each with one writer, because FerretDB applies an update by rewriting the
 * whole document and two concurrent updates of one document lose one of them (a revocation racing the "last used"
 * touch of a request was lost):
 * - the key itself (admin_api_keys): inserted once by an admin, never updated;
 * - its revocation (admin_api_key_revocations): a unique insert, so the first timestamp stands;
 * - when it was last used (admin_api_key_usage): written only by the requests that present the key.
 */
export interface ApiKeyRecord {
  _id: string;
  name: string;
  scopes: string[];
  /** The first 8 characters of the secret, so an admin can match a key in a config file to a listing. */
  prefix: string;
  /** SHA-256 of the secret. */
  hash: Buffer;
  createdAt: Date;
  createdBy: string;
  expiresAt?: Date;
  /** Kept by keys stored before revocations and usage had their own records. */
  lastUsedAt?: Date;
  revokedAt?: Date;
}

/** The admin's role: creates keys and reads them (with their hash only where verification needs it). */
export interface ApiKeyRecords {
  insert(record: ApiKeyRecord): Promise<void>;
  find(id: string, withHash: boolean): Promise<ApiKeyRecord | undefined>;
  /** Newest first, without hashes. */
  list(): Promise<ApiKeyRecord[]>;
}

/** Revocation, once per key. */
export interface ApiKeyRevocations {
  /** Records the revocation unless one exists; answers the stored time either way. */
  revoke(id: string, at: Date): Promise<Date>;
  revokedAt(ids: readonly string[]): Promise<Map<string, Date>>;
}

/** The requests' role: when a key was last presented. */
export interface ApiKeyUsage {
  /** Records use at `at`; a concurrent one of the same key may win, which is equally true. */
  touch(id: string, at: Date): Promise<void>;
  lastUsedAt(ids: readonly string[]): Promise<Map<string, Date>>;
}

export type ApiKeyStorage = ApiKeyRecords & ApiKeyRevocations & ApiKeyUsage;

interface DatedDoc {
  _id: string;
  at: Date;
}

const keySchema = new Schema<ApiKeyRecord>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    scopes: { type: [String], required: true },
    prefix: { type: String, required: true },
    hash: { type: Buffer, required: true },
    createdAt: { type: Date, required: true },
    createdBy: { type: String, required: true },
    expiresAt: Date,
    lastUsedAt: Date,
    revokedAt: Date,
  },
  { collection: 'admin_api_keys', versionKey: false },
);
keySchema.index({ createdAt: -1 });

const datedSchema = (collection: string) =>
  new Schema<DatedDoc>(
    { _id: { type: String, required: true }, at: { type: Date, required: true } },
    { collection, versionKey: false },
  );

async function datesOf(model: Model<DatedDoc>, ids: readonly string[]): Promise<Map<string, Date>> {
  if (ids.length === 0) return new Map();
  const docs = await model.find({ _id: { $in: [...ids] } }).lean<DatedDoc[]>();
  return new Map(docs.map((doc) => [doc._id, doc.at]));
}

export class MongoApiKeyStorage implements ApiKeyStorage {
  private readonly keys: Model<ApiKeyRecord>;
  private readonly revocations: Model<DatedDoc>;
  private readonly usage: Model<DatedDoc>;

  constructor(connection: Connection) {
    this.keys = modelOn(connection, 'AdminApiKey', () => keySchema);
    this.revocations = modelOn(connection, 'AdminApiKeyRevocation', () => datedSchema('admin_api_key_revocations'));
    this.usage = modelOn(connection, 'AdminApiKeyUsage', () => datedSchema('admin_api_key_usage'));
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.keys.init(), this.revocations.init(), this.usage.init()]);
  }

  async insert(record: ApiKeyRecord): Promise<void> {
    await this.keys.create(record);
  }

  async find(id: string, withHash: boolean): Promise<ApiKeyRecord | undefined> {
    return (await this.keys.findById(id, withHash ? {} : { hash: 0 }).lean<ApiKeyRecord>()) ?? undefined;
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.keys.find({}, { hash: 0 }).sort({ createdAt: -1 }).lean<ApiKeyRecord[]>().exec();
  }

  async revoke(id: string, at: Date): Promise<Date> {
    try {
      await this.revocations.create({ _id: id, at });
      return at;
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const first = await this.revocations.findById(id).lean<DatedDoc>();
      return first?.at ?? at;
    }
  }

  revokedAt(ids: readonly string[]): Promise<Map<string, Date>> {
    return datesOf(this.revocations, ids);
  }

  async touch(id: string, at: Date): Promise<void> {
    try {
      await this.usage.updateOne({ _id: id }, { $set: { at } }, { upsert: true });
    } catch (error) {
      // Two first uses at once: both upserts insert, one is refused, and the other recorded the same minute.
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  lastUsedAt(ids: readonly string[]): Promise<Map<string, Date>> {
    return datesOf(this.usage, ids);
  }
}
