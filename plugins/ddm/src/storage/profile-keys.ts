import { randomBytes } from 'node:crypto';
import { isDuplicateKeyError, type KeyVault, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * The key that signs legacy profile URLs (ddm_keys): created once for every replica (the first insert wins) and
 * sealed at rest by the key vault under the master key. Its one change is being sealed again after a master key
 * rotation, which every replica would write the same way (the same key, under the same current master key).
 */
export interface ProfileUrlKeys {
  /** The current key, created on first use. */
  current(): Promise<Buffer>;
}

interface KeyDoc {
  _id: string;
  sealed: string;
  createdAt: Date;
}

const KEY_ID = 'profile-url-hmac';

const keySchema = new Schema<KeyDoc>(
  { _id: String, sealed: { type: String, required: true }, createdAt: { type: Date, required: true } },
  { collection: 'ddm_keys', versionKey: false },
);

export class MongoProfileUrlKeys implements ProfileUrlKeys {
  private readonly docs: Model<KeyDoc>;
  private loaded?: Promise<Buffer>;

  constructor(
    mongo: Connection,
    private readonly vault: KeyVault,
  ) {
    this.docs = modelOn<KeyDoc>(mongo, 'DdmKey', keySchema);
  }

  /** Kept once read: the stored key never changes, so every replica holds the same one. */
  current(): Promise<Buffer> {
    this.loaded ??= this.load().catch((error: unknown) => {
      this.loaded = undefined;
      throw error;
    });
    return this.loaded;
  }

  private async load(): Promise<Buffer> {
    const existing = await this.docs.findById(KEY_ID).lean<KeyDoc>();
    if (existing) {
      const key = this.vault.open(existing.sealed, KEY_ID);
      // Sealed under a previous master key: sealed again under the current one before that key is retired. Two
      // replicas doing so at once both write a sealing of the same key, so either write is right.
      if (this.vault.needsRotation(existing.sealed)) {
        await this.docs.replaceOne(
          { _id: KEY_ID, sealed: existing.sealed },
          { sealed: this.vault.seal(key, KEY_ID), createdAt: existing.createdAt },
        );
      }
      return key;
    }
    try {
      await this.docs.create({ _id: KEY_ID, sealed: this.vault.seal(randomBytes(32), KEY_ID), createdAt: new Date() });
    } catch (error) {
      // Another replica stored its key first: that one is everyone's.
      if (!isDuplicateKeyError(error)) throw error;
    }
    const stored = await this.docs.findById(KEY_ID).lean<KeyDoc>();
    if (!stored) throw new Error('the profile URL key could not be stored');
    return this.vault.open(stored.sealed, KEY_ID);
  }
}
