import type { KeyObject } from 'node:crypto';
import { createPrivateKey, X509Certificate } from 'node:crypto';

/** A private key as a node KeyObject (preferred: parse once) or PEM text. */
export type PrivateKeyInput = KeyObject | string;

export function toPrivateKey(input: PrivateKeyInput): KeyObject {
  return typeof input === 'string' ? createPrivateKey(input) : input;
}

/** A certificate as PEM text or DER bytes. */
export type CertificateInput = string | Buffer;

export function toCertificateDer(input: CertificateInput): Buffer {
  return Buffer.isBuffer(input) ? input : new X509Certificate(input).raw;
}

/** Small LRU so hot paths that receive PEM strings (CA cert, signer cert) parse them once, not per request. */
export class BoundedCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  getOrCreate(key: string, create: () => V): V {
    const existing = this.entries.get(key);
    if (existing !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, existing);
      return existing;
    }
    const value = create();
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }
}

const certificateCache = new BoundedCache<X509Certificate>(16);
export function cachedCertificate(pem: string): X509Certificate {
  return certificateCache.getOrCreate(pem, () => new X509Certificate(pem));
}
