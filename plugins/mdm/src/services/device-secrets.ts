import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { KeyVault } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import {
  DEVICE_SECRET_FIELDS,
  type DeviceDoc,
  type DeviceKeyDoc,
  DUPLICATE_KEY,
  type MdmModels,
} from '../storage/models.js';

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
 * the one key document leaves every copy of those values — in replicas, exports and backups of mdm_devices —
 * unreadable, even with the master key.
 */
export class DeviceSecrets {
  constructor(
    private readonly models: MdmModels,
    private readonly vault: KeyVault,
    private readonly logger: Logger,
  ) {}

  /** The $set for a TokenUpdate: the encrypted values plus the token's hash; creates the data key on first use. */
  async encrypt(deviceId: string, enrollmentId: string, values: DeviceSecretValues): Promise<Partial<DeviceDoc>> {
    const key = await this.dataKey(deviceId, enrollmentId);
    const set: Partial<DeviceDoc> = {
      pushTokenEncrypted: seal(key, deviceId, 'pushToken', Buffer.from(values.pushToken, 'utf8')),
      pushTokenHash: hashPushToken(values.pushToken),
      pushMagicEncrypted: seal(key, deviceId, 'pushMagic', Buffer.from(values.pushMagic, 'utf8')),
    };
    if (values.unlockToken && values.unlockToken.length > 0) {
      set.unlockTokenEncrypted = seal(key, deviceId, 'unlockToken', values.unlockToken);
    }
    return set;
  }

  /** Push token and PushMagic of many devices (the push path); devices whose key is gone are left out. */
  async openPushSecrets(
    docs: readonly Pick<DeviceDoc, '_id' | 'pushTokenEncrypted' | 'pushMagicEncrypted'>[],
  ): Promise<Map<string, { token: string; pushMagic: string }>> {
    const ids = docs.map((d) => String(d._id));
    const keys = await this.models.deviceKeys.find({ _id: { $in: ids } }).lean<DeviceKeyDoc[]>();
    const byId = new Map(keys.map((k) => [k._id, k]));
    const out = new Map<string, { token: string; pushMagic: string }>();
    for (const doc of docs) {
      const id = String(doc._id);
      const keyDoc = byId.get(id);
      if (!keyDoc || !doc.pushTokenEncrypted || !doc.pushMagicEncrypted) continue;
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
  async openUnlockToken(doc: Pick<DeviceDoc, '_id' | 'unlockTokenEncrypted'>): Promise<Buffer | undefined> {
    if (!doc.unlockTokenEncrypted) return undefined;
    const keyDoc = await this.models.deviceKeys.findById(String(doc._id)).lean<DeviceKeyDoc>();
    if (!keyDoc) return undefined;
    return open(this.openKey(keyDoc), String(doc._id), 'unlockToken', doc.unlockTokenEncrypted);
  }

  /**
   * Destroys the data key of a device (of one enrollment, when given) and removes every secret field from its
   * record. Returns what was there.
   */
  async erase(deviceId: string, enrollmentId?: string): Promise<string[]> {
    const keyFilter = enrollmentId ? { _id: deviceId, enrollmentId } : { _id: deviceId };
    const { deletedCount } = await this.models.deviceKeys.deleteOne(keyFilter);
    const deviceFilter = enrollmentId ? { _id: deviceId, enrollmentId } : { _id: deviceId };
    const unset = { $unset: Object.fromEntries(DEVICE_SECRET_FIELDS.map((f) => [f, ''])) };
    const before = await this.models.devices.findOneAndUpdate(deviceFilter, unset).lean<DeviceDoc>();
    // FerretDB applies an update by rewriting the document: a write that read it just before ours (a push
    // token marked invalid) could put the fields back, and a TokenUpdate verified before the erase can create a
    // new data key after it. Check both, and erase again until they are gone.
    const hasSecrets = { ...deviceFilter, $or: DEVICE_SECRET_FIELDS.map((f) => ({ [f]: { $exists: true } })) };
    const leftOver = async () =>
      Boolean((await this.models.devices.exists(hasSecrets)) || (await this.models.deviceKeys.exists(keyFilter)));
    for (let attempt = 0; attempt < 5 && (await leftOver()); attempt++) {
      await this.models.deviceKeys.deleteOne(keyFilter);
      await this.models.devices.updateOne(deviceFilter, unset);
    }
    if (await leftOver()) throw new Error(`device ${deviceId} still holds secrets after erasing`);
    const erased: string[] = [];
    if (before?.pushTokenEncrypted || before?.pushToken) erased.push('push token');
    if (before?.pushMagicEncrypted || before?.pushMagic) erased.push('PushMagic');
    if (before?.unlockTokenEncrypted || before?.unlockTokenSealed) erased.push('UnlockToken');
    if (deletedCount > 0) erased.push('device data key');
    return erased;
  }

  /** Destroys the device's data key only (Authenticate clears the secret fields in its own update). */
  async forgetKey(deviceId: string): Promise<void> {
    await this.models.deviceKeys.deleteOne({ _id: deviceId });
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
   * Encrypts secrets stored before crypto-erase existed (plaintext push token and PushMagic, an UnlockToken
   * sealed directly under the master key) and removes the old fields.
   */
  async migrateLegacy(): Promise<number> {
    let count = 0;
    const legacy = this.models.devices
      .find({ $or: [{ pushToken: { $exists: true } }, { unlockTokenSealed: { $exists: true } }] })
      .lean<DeviceDoc[]>()
      .cursor();
    for await (const doc of legacy) {
      const deviceId = String(doc._id);
      const key = await this.dataKey(deviceId, doc.enrollmentId ?? 'legacy');
      const set: Partial<DeviceDoc> = {};
      if (doc.pushToken) {
        set.pushTokenEncrypted = seal(key, deviceId, 'pushToken', Buffer.from(doc.pushToken, 'utf8'));
        set.pushTokenHash = hashPushToken(doc.pushToken);
      }
      if (doc.pushMagic) set.pushMagicEncrypted = seal(key, deviceId, 'pushMagic', Buffer.from(doc.pushMagic, 'utf8'));
      if (doc.unlockTokenSealed) {
        const token = this.vault.open(doc.unlockTokenSealed, `mdm-unlock:${deviceId}`);
        set.unlockTokenEncrypted = seal(key, deviceId, 'unlockToken', token);
      }
      await this.models.devices.updateOne(
        { _id: doc._id },
        { $set: set, $unset: { pushToken: '', pushMagic: '', unlockTokenSealed: '' } },
      );
      count++;
    }
    return count;
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
        if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
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
