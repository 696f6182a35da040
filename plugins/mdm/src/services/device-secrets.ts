import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { KeyVault } from 'enrollment-gateway/sdk';
import { isDuplicateKeyError } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { type PushCredentialDoc, pushCredentialId } from '../storage/device-records.js';
import type { DeviceKeyDoc, LegacyDeviceDoc, MdmModels } from '../storage/models.js';

/** The secrets a device hands the gateway in TokenUpdate. */
export interface DeviceSecretValues {
  pushToken: string;
  pushMagic: string;
  unlockToken?: Buffer;
}

type SecretField = 'pushToken' | 'pushMagic' | 'unlockToken';
const FORMAT = 'v1';

export const hashPushToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Crypto-erase for device secrets. Each device gets a random AES-256 data key, sealed under the master key and
 * stored apart from the device record (mdm_device_keys), bound to one enrollment. The push token, PushMagic and
 * UnlockToken are encrypted with it (AES-256-GCM, authenticated with the device id and field name), so deleting
 * the one key document leaves every copy of those values — in replicas, exports and backups of
 * mdm_push_credentials —
 * unreadable, even with the master key.
 */
export class DeviceSecrets {
  constructor(
    private readonly models: MdmModels,
    private readonly vault: KeyVault,
    private readonly logger: Logger,
  ) {}

  /** The encrypted fields of a TokenUpdate; creates the data key on first use. */
  async encrypt(
    deviceId: string,
    enrollmentId: string,
    values: DeviceSecretValues,
  ): Promise<
    Pick<PushCredentialDoc, 'pushTokenEncrypted' | 'pushTokenHash' | 'pushMagicEncrypted' | 'unlockTokenEncrypted'>
  > {
    const key = await this.dataKey(deviceId, enrollmentId);
    return {
      pushTokenEncrypted: seal(key, deviceId, 'pushToken', Buffer.from(values.pushToken, 'utf8')),
      pushTokenHash: hashPushToken(values.pushToken),
      pushMagicEncrypted: seal(key, deviceId, 'pushMagic', Buffer.from(values.pushMagic, 'utf8')),
      ...(values.unlockToken && values.unlockToken.length > 0
        ? { unlockTokenEncrypted: seal(key, deviceId, 'unlockToken', values.unlockToken) }
        : {}),
    };
  }

  /**
   * TokenUpdate's write: the push credentials of this enrollment, replaced whole under a new version (the
   * push-credential role is TokenUpdate's alone; crypto-erase only deletes).
   */
  async storePushCredentials(
    deviceId: string,
    enrollmentId: string,
    topic: string | undefined,
    values: DeviceSecretValues,
  ): Promise<void> {
    const id = pushCredentialId(deviceId, enrollmentId);
    const doc: PushCredentialDoc = {
      _id: id,
      deviceId,
      enrollmentId,
      version: randomBytes(9).toString('base64url'),
      ...(topic ? { topic } : {}),
      ...(await this.encrypt(deviceId, enrollmentId, values)),
      at: new Date(),
    };
    await this.models.pushCredentials.collection.replaceOne({ _id: id as never }, doc as never, { upsert: true });
  }

  /** Push token and PushMagic of many devices (the push path); devices whose key is gone are left out. */
  async openPushSecrets(
    docs: readonly Pick<PushCredentialDoc, 'deviceId' | 'pushTokenEncrypted' | 'pushMagicEncrypted'>[],
  ): Promise<Map<string, { token: string; pushMagic: string }>> {
    const ids = docs.map((d) => d.deviceId);
    const keys = await this.models.deviceKeys.find({ _id: { $in: ids } }).lean<DeviceKeyDoc[]>();
    const byId = new Map(keys.map((k) => [k._id, k]));
    const out = new Map<string, { token: string; pushMagic: string }>();
    for (const doc of docs) {
      const id = doc.deviceId;
      const keyDoc = byId.get(id);
      if (!keyDoc) continue;
      try {
        const key = this.openKey(keyDoc);
        out.set(id, {
          token: open(key, id, 'pushToken', doc.pushTokenEncrypted).toString('utf8'),
          pushMagic: open(key, id, 'pushMagic', doc.pushMagicEncrypted).toString('utf8'),
        });
      } catch (error) {
        // A value written under an earlier enrollment's key cannot be opened: that device cannot be pushed.
        this.logger.warn({ deviceId: id, err: { message: (error as Error).message } }, 'device secrets do not open');
      }
    }
    return out;
  }

  /** The UnlockToken, if the device sent one and its key still exists. */
  async openUnlockToken(
    doc: Pick<PushCredentialDoc, 'deviceId' | 'unlockTokenEncrypted'>,
  ): Promise<Buffer | undefined> {
    if (!doc.unlockTokenEncrypted) return undefined;
    const keyDoc = await this.models.deviceKeys.findById(doc.deviceId).lean<DeviceKeyDoc>();
    if (!keyDoc) return undefined;
    return open(this.openKey(keyDoc), doc.deviceId, 'unlockToken', doc.unlockTokenEncrypted);
  }

  /**
   * Destroys the data key of a device (of one enrollment, when given) and deletes its push credentials.
   * Returns what was there. A TokenUpdate verified before the erase can still write after it: erase again
   * until both are gone (retirement erases once more after 'retired', from when no check-in is accepted).
   */
  async erase(deviceId: string, enrollmentId?: string): Promise<string[]> {
    const keyFilter = enrollmentId ? { _id: deviceId, enrollmentId } : { _id: deviceId };
    const credentialFilter = enrollmentId ? { deviceId, enrollmentId } : { deviceId };
    const before = await this.models.pushCredentials.find(credentialFilter).lean<PushCredentialDoc[]>();
    const { deletedCount } = await this.models.deviceKeys.deleteOne(keyFilter);
    await this.models.pushCredentials.deleteMany(credentialFilter);
    const leftOver = async () =>
      Boolean(
        (await this.models.pushCredentials.exists(credentialFilter)) ||
          (await this.models.deviceKeys.exists(keyFilter)),
      );
    for (let attempt = 0; attempt < 5 && (await leftOver()); attempt++) {
      await this.models.deviceKeys.deleteOne(keyFilter);
      await this.models.pushCredentials.deleteMany(credentialFilter);
    }
    if (await leftOver()) throw new Error(`device ${deviceId} still holds secrets after erasing`);
    const erased: string[] = [];
    if (before.some((c) => c.pushTokenEncrypted)) erased.push('push token');
    if (before.some((c) => c.pushMagicEncrypted)) erased.push('PushMagic');
    if (before.some((c) => c.unlockTokenEncrypted)) erased.push('UnlockToken');
    if (deletedCount > 0) erased.push('device data key');
    return erased;
  }

  /** A new enrollment starts clean: the data key and push credentials of any other enrollment go. */
  async forgetOtherEnrollments(deviceId: string, enrollmentId: string): Promise<void> {
    await this.models.deviceKeys.deleteOne({ _id: deviceId, enrollmentId: { $ne: enrollmentId } });
    await this.models.pushCredentials.deleteMany({ deviceId, enrollmentId: { $ne: enrollmentId } });
  }

  /** Re-seals data keys sealed under an older master key (after a rotation); returns how many. */
  async resealKeys(): Promise<number> {
    let count = 0;
    for await (const doc of this.models.deviceKeys.find().lean<DeviceKeyDoc[]>().cursor()) {
      if (!this.vault.needsRotation(doc.keySealed)) continue;
      const context = keyContext(doc._id, doc.enrollmentId);
      const resealed = this.vault.seal(this.vault.open(doc.keySealed, context), context);
      await this.models.deviceKeys.updateOne(
        { _id: doc._id, keySealed: doc.keySealed },
        { $set: { keySealed: resealed } },
      );
      count++;
    }
    return count;
  }

  /**
   * The push credentials a device record of before the one-writer split held (device-migration.ts): values
   * already encrypted under the device's data key are copied; plaintext ones (before crypto-erase existed) and
   * an UnlockToken sealed under the master key are encrypted now.
   */
  async legacyCredentials(doc: LegacyDeviceDoc): Promise<PushCredentialDoc | undefined> {
    const deviceId = String(doc._id);
    const enrollmentId = doc.enrollmentId ?? 'legacy';
    const base = { _id: pushCredentialId(deviceId, enrollmentId), deviceId, enrollmentId, at: new Date() };
    const version = randomBytes(9).toString('base64url');
    const topic = doc.topic ? { topic: doc.topic } : {};
    if (doc.pushTokenEncrypted && doc.pushTokenHash && doc.pushMagicEncrypted) {
      return {
        ...base,
        ...topic,
        version,
        pushTokenEncrypted: doc.pushTokenEncrypted,
        pushTokenHash: doc.pushTokenHash,
        pushMagicEncrypted: doc.pushMagicEncrypted,
        ...(doc.unlockTokenEncrypted ? { unlockTokenEncrypted: doc.unlockTokenEncrypted } : {}),
      };
    }
    if (!doc.pushToken || !doc.pushMagic) return undefined;
    const unlockToken = doc.unlockTokenSealed
      ? this.vault.open(doc.unlockTokenSealed, `mdm-unlock:${deviceId}`)
      : undefined;
    return {
      ...base,
      ...topic,
      version,
      ...(await this.encrypt(deviceId, enrollmentId, {
        pushToken: doc.pushToken,
        pushMagic: doc.pushMagic,
        unlockToken,
      })),
    };
  }

  private openKey(doc: DeviceKeyDoc): Buffer {
    return this.vault.open(doc.keySealed, keyContext(doc._id, doc.enrollmentId));
  }

  /** The device's key for this enrollment; made once even when two TokenUpdates race (unique _id insert). */
  private async dataKey(deviceId: string, enrollmentId: string): Promise<Buffer> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.models.deviceKeys.findById(deviceId).lean<DeviceKeyDoc>();
      if (existing?.enrollmentId === enrollmentId) return this.openKey(existing);
      // A key left from an earlier enrollment must not encrypt this one's secrets.
      if (existing) await this.models.deviceKeys.deleteOne({ _id: deviceId, enrollmentId: existing.enrollmentId });
      const key = randomBytes(32);
      try {
        await this.models.deviceKeys.create({
          _id: deviceId,
          enrollmentId,
          keySealed: this.vault.seal(key, keyContext(deviceId, enrollmentId)),
        });
        return key;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
    }
    throw new Error(`could not create the data key of device ${deviceId}`);
  }
}

const keyContext = (deviceId: string, enrollmentId: string) => `mdm-device-key:${deviceId}:${enrollmentId}`;
const aad = (deviceId: string, field: SecretField) => Buffer.from(`mdm-device-secret:${deviceId}:${field}`);

function seal(key: Buffer, deviceId: string, field: SecretField, plaintext: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(deviceId, field));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [FORMAT, iv, cipher.getAuthTag(), ciphertext]
    .map((p) => (Buffer.isBuffer(p) ? p.toString('base64url') : p))
    .join('.');
}

function open(key: Buffer, deviceId: string, field: SecretField, sealed: string): Buffer {
  const [format, iv, tag, ciphertext] = sealed.split('.');
  if (format !== FORMAT || !iv || !tag || ciphertext === undefined) throw new Error('unknown device secret format');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(aad(deviceId, field));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
}
