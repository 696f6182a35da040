import { randomBytes } from 'node:crypto';
import { isDuplicateKeyError, type KeyVault, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * Everything this plugin stores, insert-only (one writer per record, no update races): the sealed key that signs
 * challenges, the access tokens handed to Settings, and one redemption per token (the single-use claim).
 */
export interface AccessTokenDoc {
  /** SHA-256 of the token, base64url: the token itself is never stored. */
  _id: string;
  userId: string;
  upn: string;
  mode: 'byod' | 'adde';
  /** The machine info digest of the device the sign-in was for. */
  machineDigest: string;
  /** The enrollment session created at sign-in, and its one-time profile link, sealed. */
  sessionId: string;
  profileUrlSealed: string;
  expiresAt: Date;
  createdAt: Date;
}

interface RedemptionDoc {
  _id: string;
  at: Date;
}

interface KeyDoc {
  _id: string;
  sealed: string;
}

export function accountEnrollmentModels(connection: Connection) {
  const model = <T>(name: string, schema: Schema<T>): Model<T> => modelOn<T>(connection, name, schema);
  const tokens = model(
    'AccountEnrollmentToken',
    new Schema<AccessTokenDoc>(
      {
        _id: { type: String, required: true },
        userId: { type: String, required: true, index: true },
        upn: { type: String, required: true },
        mode: { type: String, required: true },
        machineDigest: { type: String, required: true },
        sessionId: { type: String, required: true },
        profileUrlSealed: { type: String, required: true },
        expiresAt: { type: Date, required: true },
        createdAt: { type: Date, required: true },
      },
      { collection: 'account_enrollment_tokens', versionKey: false },
    ),
  );
  const redemptions = model(
    'AccountEnrollmentRedemption',
    new Schema<RedemptionDoc>(
      { _id: { type: String, required: true }, at: { type: Date, required: true } },
      { collection: 'account_enrollment_redemptions', versionKey: false },
    ),
  );
  const keys = model(
    'AccountEnrollmentKey',
    new Schema<KeyDoc>(
      { _id: { type: String, required: true }, sealed: { type: String, required: true } },
      { collection: 'account_enrollment_keys', versionKey: false },
    ),
  );
  return { tokens, redemptions, keys };
}
export type AccountEnrollmentModels = ReturnType<typeof accountEnrollmentModels>;

/** Inserts `doc`; false when a document with its _id exists (the claim was taken). */
export async function insertOnce<T extends { _id: string }>(model: Model<T>, doc: T): Promise<boolean> {
  try {
    await model.create(doc);
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

const KEY_ID = 'challenge-hmac';

/** The challenge-signing key, created once for all replicas (the first insert wins) and sealed at rest. */
export async function challengeKey(models: AccountEnrollmentModels, vault: KeyVault): Promise<Buffer> {
  const existing = await models.keys.findById(KEY_ID).lean<KeyDoc>();
  if (existing) return vault.open(existing.sealed, KEY_ID);
  await insertOnce(models.keys, { _id: KEY_ID, sealed: vault.seal(randomBytes(32), KEY_ID) });
  const stored = await models.keys.findById(KEY_ID).lean<KeyDoc>();
  if (!stored) throw new Error('the challenge key could not be stored');
  return vault.open(stored.sealed, KEY_ID);
}
