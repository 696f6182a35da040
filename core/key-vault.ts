import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { CoreConfig } from './config/schema.js';
import { ConfigError, GatewayError } from './sdk/errors.js';
import type { KeyVault } from './sdk/plugin.js';

export class KeyVaultError extends GatewayError {}

interface MasterKey {
  id: string;
  key: Buffer;
}

const FORMAT = 'v1';

/**
 * AES-256-GCM under the master key. The sealed string names the key id, so values sealed
 * under a previous key still open during a rotation; `context` is bound as AAD so a sealed
 * value cannot be moved to another record.
 */
export class AesGcmKeyVault implements KeyVault {
  private readonly current: MasterKey;
  private readonly byId = new Map<string, MasterKey>();

  constructor(masterKey: string | undefined, previousKeys: readonly string[]) {
    if (!masterKey) {
      throw new ConfigError(
        'security.masterKey is not set (GATEWAY_SECURITY__MASTER_KEY; create one with: openssl rand -base64 32)',
      );
    }
    const toKey = (encoded: string): MasterKey => {
      const key = Buffer.from(encoded, 'base64');
      return { key, id: createHash('sha256').update(key).digest('hex').slice(0, 12) };
    };
    this.current = toKey(masterKey);
    for (const key of [this.current, ...previousKeys.map(toKey)]) this.byId.set(key.id, key);
  }

  seal(plaintext: Buffer, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url'));
    return [FORMAT, this.current.id, ...parts].join('.');
  }

  open(sealed: string, context: string): Buffer {
    const [format, keyId, iv, tag, body] = sealed.split('.');
    if (format !== FORMAT || !keyId || !iv || !tag || body === undefined)
      throw new KeyVaultError('sealed_malformed', 'sealed value is malformed');
    const master = this.byId.get(keyId);
    if (!master) throw new KeyVaultError('sealed_unknown_key', `sealed under unknown master key ${keyId}`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', master.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
    } catch (error) {
      throw new KeyVaultError('sealed_corrupt', 'sealed value failed authentication', { cause: error });
    }
  }

  needsRotation(sealed: string): boolean {
    return sealed.split('.')[1] !== this.current.id;
  }
}

/** Plugins that never touch secrets run without a master key; the first use then fails clearly. */
export function lazyKeyVault(config: CoreConfig): KeyVault {
  let vault: KeyVault | undefined;
  const get = () => {
    vault ??= new AesGcmKeyVault(config.security.masterKey, config.security.previousMasterKeys);
    return vault;
  };
  return {
    seal: (plaintext, context) => get().seal(plaintext, context),
    open: (sealed, context) => get().open(sealed, context),
    needsRotation: (sealed) => get().needsRotation(sealed),
  };
}
