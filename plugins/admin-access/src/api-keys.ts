import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProblemError, ValidationProblem } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import { z } from 'zod';

/**
 * Scoped admin API keys, hashed at rest. A key reads `gwk_<id>_<secret>`: the id finds the record,
 * the secret is checked against its SHA-256 with a constant-time compare.
 *
 * SHA-256 rather than scrypt: the secret is 32 bytes from the CSPRNG (256 bits of entropy), so there is
 * no dictionary to try and a slow hash would add nothing but latency on every admin call. Slow hashes
 * exist to protect low-entropy, human-chosen passwords.
 */

/** "*", or "<area>:read|write|*" where areas are the plugins' admin areas (devices, profiles, apns …). */
export const scopePattern = /^(\*|[a-z][a-z0-9-]{0,39}:(read|write|\*))$/;
export const apiKeyScopes = z
  .array(z.string().regex(scopePattern, 'a scope is "*", "<area>:read", "<area>:write" or "<area>:*"'))
  .min(1)
  .max(50)
  .transform((scopes) => [...new Set(scopes)]);

const KEY_PATTERN = /^gwk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const LAST_USED_GRANULARITY_MS = 60_000;

export interface ApiKeyDocument {
  _id: string;
  name: string;
  scopes: string[];
  /** The first 8 characters of the secret, so an admin can match a key in a config file to a listing. */
  prefix: string;
  /** SHA-256 of the secret. */
  hash: Buffer;
  createdAt: Date;
  createdBy: string;
  lastUsedAt?: Date;
  expiresAt?: Date;
  revokedAt?: Date;
}

/** What listings show: never the secret nor its hash. */
export interface ApiKeySummary {
  id: string;
  name: string;
  scopes: string[];
  prefix: string;
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

/** Why a presented key was refused; audit-logged, and shown to callers only once they proved the secret. */
export type ApiKeyRefusal = 'malformed' | 'unknown' | 'wrong-secret' | 'revoked' | 'expired';

export class ApiKeyRefused extends ProblemError {
  constructor(
    readonly reason: ApiKeyRefusal,
    readonly keyId: string | undefined,
    readonly keyName: string | undefined,
  ) {
    // Only a caller holding the real secret learns that its key was revoked or expired.
    const detail =
      reason === 'revoked'
        ? 'this API key was revoked'
        : reason === 'expired'
          ? 'this API key expired'
          : 'invalid API key';
    super(401, 'Invalid API key', detail);
  }
}

const apiKeySchema = new Schema<ApiKeyDocument>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    scopes: { type: [String], required: true },
    prefix: { type: String, required: true },
    hash: { type: Buffer, required: true },
    createdAt: { type: Date, required: true },
    createdBy: { type: String, required: true },
    lastUsedAt: Date,
    expiresAt: Date,
    revokedAt: Date,
  },
  { collection: 'admin_api_keys', versionKey: false },
);
apiKeySchema.index({ createdAt: -1 });

/** Lean reads return BSON Binary for Buffer fields; documents return Buffers. */
function storedHash(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  const bytes = (value as { buffer?: unknown }).buffer;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes);
  return Buffer.alloc(0);
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export function summarize(doc: ApiKeyDocument, now = new Date()): ApiKeySummary {
  const status = doc.revokedAt ? 'revoked' : doc.expiresAt && doc.expiresAt <= now ? 'expired' : 'active';
  return {
    id: doc._id,
    name: doc.name,
    scopes: [...doc.scopes],
    prefix: doc.prefix,
    createdAt: doc.createdAt.toISOString(),
    createdBy: doc.createdBy,
    lastUsedAt: doc.lastUsedAt?.toISOString() ?? null,
    expiresAt: doc.expiresAt?.toISOString() ?? null,
    revokedAt: doc.revokedAt?.toISOString() ?? null,
    status,
  };
}

export interface NewApiKey {
  name: string;
  scopes: readonly string[];
  expiresInDays?: number;
  createdBy: string;
}

export const newApiKeyFields = z.object({
  name: z.string().trim().min(1).max(100),
  scopes: apiKeyScopes,
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});

export class ApiKeyStore {
  private readonly model: Model<ApiKeyDocument>;
  constructor(
    connection: Connection,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.model =
      (connection.models.AdminApiKey as Model<ApiKeyDocument>) ??
      connection.model<ApiKeyDocument>('AdminApiKey', apiKeySchema);
  }

  async ensureIndexes(): Promise<void> {
    await this.model.init();
  }

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller's hands. */
  async create(input: NewApiKey): Promise<{ key: string; summary: ApiKeySummary }> {
    const fields = newApiKeyFields.safeParse(input);
    if (!fields.success) throw new ValidationProblem(fields.error.issues.map((i) => i.message).join('; '));
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.clock();
    const doc = await this.model.create({
      _id: id,
      name: fields.data.name,
      scopes: fields.data.scopes,
      prefix: secret.slice(0, 8),
      hash: sha256(secret),
      createdAt: now,
      createdBy: input.createdBy,
      expiresAt:
        fields.data.expiresInDays === undefined
          ? undefined
          : new Date(now.getTime() + fields.data.expiresInDays * 86_400_000),
    });
    return { key: `gwk_${id}_${secret}`, summary: summarize(doc.toObject(), now) };
  }

  async list(): Promise<ApiKeySummary[]> {
    const now = this.clock();
    const docs = await this.model.find({}, { hash: 0 }).sort({ createdAt: -1 }).lean<ApiKeyDocument[]>();
    return docs.map((doc) => summarize(doc, now));
  }

  async get(id: string): Promise<ApiKeySummary | undefined> {
    const doc = await this.model.findById(id, { hash: 0 }).lean<ApiKeyDocument>();
    return doc ? summarize(doc, this.clock()) : undefined;
  }

  /** Marks the key revoked (idempotent); returns before and after, or undefined when no such key. */
  async revoke(id: string): Promise<{ before: ApiKeySummary; after: ApiKeySummary } | undefined> {
    const before = await this.model.findById(id, { hash: 0 }).lean<ApiKeyDocument>();
    if (!before) return undefined;
    if (before.revokedAt) return { before: summarize(before), after: summarize(before) };
    // Conditional, so two concurrent revocations keep the first timestamp.
    await this.model.updateOne({ _id: id, revokedAt: { $exists: false } }, { $set: { revokedAt: this.clock() } });
    const current = await this.model.findById(id, { hash: 0 }).lean<ApiKeyDocument>();
    return { before: summarize(before), after: summarize(current ?? before) };
  }

  /** Verifies a presented key; throws ApiKeyRefused for anything that is not a live, matching key. */
  async verify(presented: string): Promise<ApiKeyDocument> {
    const match = KEY_PATTERN.exec(presented);
    if (!match) throw new ApiKeyRefused('malformed', undefined, undefined);
    const [, id, secret] = match;
    const doc = await this.model.findById(id).lean<ApiKeyDocument>();
    // Hash even for an unknown id, so timing does not tell which ids exist.
    const presentedHash = sha256(secret);
    if (!doc) {
      timingSafeEqual(presentedHash, presentedHash);
      throw new ApiKeyRefused('unknown', id, undefined);
    }
    const stored = storedHash(doc.hash);
    if (stored.length !== presentedHash.length || !timingSafeEqual(stored, presentedHash)) {
      throw new ApiKeyRefused('wrong-secret', id, doc.name);
    }
    const now = this.clock();
    if (doc.revokedAt) throw new ApiKeyRefused('revoked', id, doc.name);
    if (doc.expiresAt && doc.expiresAt <= now) throw new ApiKeyRefused('expired', id, doc.name);
    await this.touch(doc, now);
    return doc;
  }

  /** Records use at most once a minute per key, so a busy automation does not write on every call. */
  private async touch(doc: ApiKeyDocument, now: Date): Promise<void> {
    const threshold = new Date(now.getTime() - LAST_USED_GRANULARITY_MS);
    if (doc.lastUsedAt && doc.lastUsedAt > threshold) return;
    await this.model.updateOne(
      { _id: doc._id, $or: [{ lastUsedAt: { $exists: false } }, { lastUsedAt: { $lte: threshold } }] },
      { $set: { lastUsedAt: now } },
    );
  }
}
