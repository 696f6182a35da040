import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProblemError, ValidationProblem } from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { ApiKeyRecord, ApiKeyStorage } from './storage/api-key-storage.js';

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

/** A key as the service sees it: the stored record with its revocation and last use folded in. */
export interface ApiKeyDocument extends ApiKeyRecord {
  lastUsedAt?: Date;
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
  constructor(
    private readonly storage: ApiKeyStorage,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The record with the latest of its own (older keys) and the separate revocation and usage records. */
  private async withState(records: ApiKeyRecord[]): Promise<ApiKeyDocument[]> {
    const ids = records.map((r) => r._id);
    const [revoked, used] = await Promise.all([this.storage.revokedAt(ids), this.storage.lastUsedAt(ids)]);
    return records.map((record) => {
      const revokedAt = record.revokedAt ?? revoked.get(record._id);
      const lastUsedAt = latest(record.lastUsedAt, used.get(record._id));
      return { ...record, revokedAt, lastUsedAt };
    });
  }

  private async load(id: string, withHash = false): Promise<ApiKeyDocument | undefined> {
    const record = await this.storage.find(id, withHash);
    return record ? (await this.withState([record]))[0] : undefined;
  }

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller's hands. */
  async create(input: NewApiKey): Promise<{ key: string; summary: ApiKeySummary }> {
    const fields = newApiKeyFields.safeParse(input);
    if (!fields.success) throw new ValidationProblem(fields.error.issues.map((i) => i.message).join('; '));
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.clock();
    const record: ApiKeyRecord = {
      _id: id,
      name: fields.data.name,
      scopes: fields.data.scopes,
      prefix: secret.slice(0, 8),
      hash: sha256(secret),
      createdAt: now,
      createdBy: input.createdBy,
      ...(fields.data.expiresInDays === undefined
        ? {}
        : { expiresAt: new Date(now.getTime() + fields.data.expiresInDays * 86_400_000) }),
    };
    await this.storage.insert(record);
    return { key: `gwk_${id}_${secret}`, summary: summarize(record, now) };
  }

  async list(): Promise<ApiKeySummary[]> {
    const now = this.clock();
    const docs = await this.withState(await this.storage.list());
    return docs.map((doc) => summarize(doc, now));
  }

  async get(id: string): Promise<ApiKeySummary | undefined> {
    const doc = await this.load(id);
    return doc ? summarize(doc, this.clock()) : undefined;
  }

  /** Marks the key revoked (idempotent: the first revocation's time stands); before and after, or undefined. */
  async revoke(id: string): Promise<{ before: ApiKeySummary; after: ApiKeySummary } | undefined> {
    const before = await this.load(id);
    if (!before) return undefined;
    if (before.revokedAt) return { before: summarize(before), after: summarize(before) };
    const revokedAt = await this.storage.revoke(id, this.clock());
    return { before: summarize(before), after: summarize({ ...before, revokedAt }) };
  }

  /** Verifies a presented key; throws ApiKeyRefused for anything that is not a live, matching key. */
  async verify(presented: string): Promise<ApiKeyDocument> {
    const match = KEY_PATTERN.exec(presented);
    if (!match) throw new ApiKeyRefused('malformed', undefined, undefined);
    const [, id, secret] = match;
    const doc = await this.load(id, true);
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
    await this.storage.touch(doc._id, now);
  }
}

function latest(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (!a) return b;
  if (!b) return a;
  return a > b ? a : b;
}
