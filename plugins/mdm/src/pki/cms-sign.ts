/** Signing side of CMS: attached SignedData for .mobileconfig profiles, detached for Mdm-Signature-style headers. */
import type { KeyObject } from 'node:crypto';
import { certificateParts } from './certificate-parts.js';
import { buildSignedData } from './cms-signed-data.js';
import { BoundedCache, cachedCertificate, type PrivateKeyInput, toPrivateKey } from './keys.js';
import type { DigestName } from './oids.js';

export interface ProfileSigner {
  /** DER ContentInfo(SignedData) with `content` attached, signed with SHA-256. */
  sign(content: Buffer): Buffer;
}

/**
 * Prepares a signer once (certificate DERs, SignerIdentifier, key object) so each signature costs one hash,
 * one RSA signature and some buffer concatenation.
 */
export function createProfileSigner(options: {
  certPem: string;
  key: PrivateKeyInput;
  /** Intermediates to embed after the signer certificate (not the trust anchor, though including it is harmless). */
  chainPems?: readonly string[];
}): ProfileSigner {
  const certDer = cachedCertificate(options.certPem).raw;
  const key: KeyObject = toPrivateKey(options.key);
  const certificates = [certDer, ...(options.chainPems ?? []).map((pem) => cachedCertificate(pem).raw)];
  const signerIdentifierDer = certificateParts(certDer).issuerAndSerialDer;
  return {
    sign: (content) =>
      buildSignedData({ content, signer: { certDer, key }, certificates, signerIdentifierDer, digest: 'sha256' }),
  };
}

const signerCache = new BoundedCache<ProfileSigner>(8);

/**
 * Signs a .mobileconfig (attached CMS SignedData, DER). Signers are cached by (cert, chain, key PEM) so repeated
 * calls with the same identity skip parsing; pass a KeyObject to skip the PEM key parse entirely.
 */
export function signProfile(
  plistBytes: Buffer,
  signerCertPem: string,
  signerKey: PrivateKeyInput,
  chainPems: readonly string[] = [],
): Buffer {
  if (typeof signerKey !== 'string')
    return createProfileSigner({ certPem: signerCertPem, key: signerKey, chainPems }).sign(plistBytes);
  const cacheKey = [signerCertPem, ...chainPems, signerKey].join('\u0000');
  return signerCache
    .getOrCreate(cacheKey, () => createProfileSigner({ certPem: signerCertPem, key: signerKey, chainPems }))
    .sign(plistBytes);
}

/**
 * Detached CMS signature over `body`, base64-encoded as a device puts it in the Mdm-Signature header.
 * Used by the device simulator; `digest` lets tests mimic older devices that sign with SHA-1.
 */
export function signDetached(
  body: Buffer,
  certPem: string,
  key: PrivateKeyInput,
  options: { digest?: DigestName; chainPems?: readonly string[] } = {},
): string {
  const certDer = cachedCertificate(certPem).raw;
  const der = buildSignedData({
    content: body,
    detached: true,
    digest: options.digest ?? 'sha256',
    signer: { certDer, key: toPrivateKey(key) },
    certificates: [certDer, ...(options.chainPems ?? []).map((pem) => cachedCertificate(pem).raw)],
  });
  return der.toString('base64');
}
