/**
 * Verifying side of CMS: the Mdm-Signature header (detached, device identity certificate) and attached
 * SignedData (signed profiles, used by tests and the device simulator).
 */
import { X509Certificate } from 'node:crypto';
import { MAX_UNTRUSTED_DER_BYTES } from './asn1-guard.js';
import { certificateFingerprintSha256 } from './certificates.js';
import { checkSignerInfo, findSignerCertificate, type ParsedSignedData, parseSignedData } from './cms-signed-data.js';
import { CmsVerificationError, PkiFormatError } from './errors.js';
import { BoundedCache, cachedCertificate } from './keys.js';
import { Oid } from './oids.js';

export interface VerifiedSigner {
  signerCertDer: Buffer;
  /** Lowercase hex SHA-256 of the signer certificate DER: the device identity key in our records. */
  fingerprintSha256: string;
  serialHex: string;
  subject: string;
  notAfter: Date;
}

export interface DetachedVerifyOptions {
  /** The gateway CA that issued device identity certificates. */
  caCertPem: string;
  /** Validity is checked against this instant (default: now). */
  now?: Date;
}

// Base64 of MAX_UNTRUSTED_DER_BYTES plus slack for whitespace/line breaks some proxies add.
const MAX_HEADER_CHARS = Math.ceil(MAX_UNTRUSTED_DER_BYTES / 3) * 4 + 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Verifies an `Mdm-Signature` header against the raw request body. The validity window is checked against the
 * server clock, not the signingTime attribute: signingTime is chosen by the signer, so trusting it would let an
 * expired certificate's holder keep signing by backdating.
 */
export function verifyDetachedSignature(
  base64Header: string,
  rawBody: Buffer,
  options: DetachedVerifyOptions,
): VerifiedSigner {
  if (base64Header.length > MAX_HEADER_CHARS)
    throw new CmsVerificationError('too-large', 'Mdm-Signature header is too large');
  const compact = base64Header.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 !== 0)
    throw new CmsVerificationError('malformed', 'Mdm-Signature is not base64');
  const signed = parseOrThrow(Buffer.from(compact, 'base64'));
  if (signed.eContent !== undefined && signed.eContent.length > 0 && !signed.eContent.equals(rawBody)) {
    throw new CmsVerificationError('digest-mismatch', 'Mdm-Signature carries content different from the body');
  }
  const signer = verifySignature(signed, rawBody);
  checkTrust(signer, cachedCertificate(options.caCertPem), options.now ?? new Date());
  if (!signer.clientAuth) {
    throw new CmsVerificationError('not-client-auth', 'signer certificate is not valid for client authentication');
  }
  return { ...signer.described };
}

/**
 * Verifies an attached SignedData (e.g. a signed .mobileconfig) and returns the content. With `caCertPem`, the
 * signer must also chain to that CA and be within its validity period.
 */
export function verifyAttachedSignature(
  der: Buffer,
  options: { caCertPem?: string; now?: Date; maxBytes?: number } = {},
): { content: Buffer; signerCertDer: Buffer } {
  const signed = parseOrThrow(der, options.maxBytes ?? 16 * 1024 * 1024);
  if (signed.eContent === undefined) throw new CmsVerificationError('malformed', 'SignedData has no attached content');
  const signer = verifySignature(signed, signed.eContent);
  if (options.caCertPem) checkTrust(signer, cachedCertificate(options.caCertPem), options.now ?? new Date());
  return { content: signed.eContent, signerCertDer: signer.cert.raw };
}

function parseOrThrow(der: Buffer, maxBytes = MAX_UNTRUSTED_DER_BYTES): ParsedSignedData {
  try {
    const signed = parseSignedData(der, { maxBytes });
    if (signed.eContentType !== Oid.data)
      throw new PkiFormatError('unsupported', `eContentType ${signed.eContentType} is not id-data`);
    return signed;
  } catch (error) {
    throw asCmsError(error);
  }
}

/**
 * What one signer certificate is, worked out once: devices sign every request with the same identity, and
 * parsing an X.509 certificate, hashing it and checking its issuer's RSA signature cost more than verifying the
 * request's own signature. Kept per certificate SHA-256 in a bounded LRU; `trustedBy` remembers the CA object
 * (one per CA PEM, see cachedCertificate) whose signature over this certificate verified, so the chain's RSA
 * check runs once per certificate and CA. Only facts derived from the certificate's bytes are kept: the validity
 * window is still checked against the clock on every request, and revocation is not a property of the bytes
 * (callers check it on every request), so every replica's cache is equally correct.
 */
interface SignerCertificate {
  cert: X509Certificate;
  described: VerifiedSigner;
  notBefore: Date;
  notAfter: Date;
  clientAuth: boolean;
  trustedBy?: X509Certificate;
}

const MAX_CACHED_CERTIFICATES = 20_000;
const signerCertificates = new BoundedCache<SignerCertificate>(MAX_CACHED_CERTIFICATES);

function signerCertificateOf(der: Buffer): SignerCertificate {
  return signerCertificates.getOrCreate(certificateFingerprintSha256(der), () => {
    const cert = new X509Certificate(der);
    return {
      cert,
      described: describe(cert),
      notBefore: new Date(cert.validFrom),
      notAfter: new Date(cert.validTo),
      clientAuth: (cert.keyUsage ?? []).includes(Oid.clientAuth),
    };
  });
}

/** Checks the single SignerInfo against the content; returns the signer's certificate. */
function verifySignature(signed: ParsedSignedData, content: Buffer): SignerCertificate {
  try {
    if (signed.signerInfos.length !== 1)
      throw new PkiFormatError('malformed', `expected one signer, found ${signed.signerInfos.length}`);
    const [signerInfo] = signed.signerInfos;
    const signerCertDer = findSignerCertificate(signed.certificates, signerInfo.sid);
    if (!signerCertDer) throw new PkiFormatError('malformed', 'signer certificate is not included');
    const signerCert = signerCertificateOf(signerCertDer);
    const result = checkSignerInfo(signerInfo, content, signerCert.cert.publicKey);
    if (result === 'digest-mismatch')
      throw new CmsVerificationError('digest-mismatch', 'messageDigest does not match the content');
    if (result === 'content-type-mismatch')
      throw new CmsVerificationError('malformed', 'contentType attribute is not id-data');
    if (result === 'bad-signature') throw new CmsVerificationError('bad-signature', 'signature does not verify');
    return signerCert;
  } catch (error) {
    throw asCmsError(error);
  }
}

function checkTrust(signer: SignerCertificate, ca: X509Certificate, now: Date): void {
  if (signer.trustedBy !== ca) {
    if (!signer.cert.checkIssued(ca) || !signer.cert.verify(ca.publicKey)) {
      throw new CmsVerificationError('untrusted', 'signer certificate was not issued by the gateway CA');
    }
    signer.trustedBy = ca;
  }
  if (now < signer.notBefore || now > signer.notAfter) {
    throw new CmsVerificationError(
      'expired',
      `signer certificate is valid ${signer.notBefore.toISOString()} – ${signer.notAfter.toISOString()}`,
    );
  }
}

function describe(cert: X509Certificate): VerifiedSigner {
  return {
    signerCertDer: cert.raw,
    fingerprintSha256: certificateFingerprintSha256(cert.raw),
    serialHex: cert.serialNumber.toLowerCase(),
    subject: cert.subject.split('\n').join(', '),
    notAfter: new Date(cert.validTo),
  };
}

function asCmsError(error: unknown): CmsVerificationError {
  if (error instanceof CmsVerificationError) return error;
  if (error instanceof PkiFormatError) return new CmsVerificationError(error.reason, error.message, { cause: error });
  return new CmsVerificationError('malformed', `unreadable CMS: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
  });
}
