/**
 * Certificate authority and leaf issuance. forge lays out the TBSCertificate (names, validity, extensions);
 * node:crypto makes every key and every signature, and the final Certificate SEQUENCE is assembled with der.ts.
 */

import type { KeyObject } from 'node:crypto';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import forge from 'node-forge';
import { type Asn1, parseDer, sequenceOf, toDer } from './asn1-guard.js';
import { certificateParts } from './certificate-parts.js';
import { parseCertificationRequest } from './csr.js';
import { algorithmIdentifier, bitString, sequence } from './der.js';
import { CertificateIssueError } from './errors.js';
import { type DistinguishedName, encodeName, type NameAttribute } from './names.js';
import { Oid } from './oids.js';

export type { DistinguishedName, NameAttribute } from './names.js';

export interface PemCertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** A loaded CA: parsed once, reused for every issuance and SCEP exchange. */
export interface CertificateAuthority {
  certPem: string;
  certDer: Buffer;
  certificate: X509Certificate;
  key: KeyObject;
  /** Exact DER of the CA subject Name, copied verbatim into issued certificates' issuer field. */
  subjectNameDer: Buffer;
  subjectKeyId: Buffer;
}

export interface IssuedCertificate {
  certDer: Buffer;
  certPem: string;
  serialHex: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateSummary {
  serialHex: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  fingerprintSha256: string;
  /** Extended key usage OIDs; empty when the extension is absent (meaning "any"). */
  extendedKeyUsage: string[];
}

/** Issued certificates start 5 minutes in the past so a device whose clock runs slightly behind still accepts them. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export function createCertificateAuthority(options: {
  commonName: string;
  organization?: string;
  validityDays: number;
}): PemCertificateAndKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const subject: NameAttribute[] = [{ type: 'CN', value: options.commonName }];
  if (options.organization) subject.push({ type: 'O', value: options.organization });
  const certDer = buildCertificate({
    subject,
    publicKey,
    signingKey: privateKey,
    validityDays: options.validityDays,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      // keyEncipherment + digitalSignature: the same CA cert is the SCEP recipient (clients encrypt the CSR to
      // it) and signs CertReps; Apple's SCEP client checks these bits on the GetCACert certificate.
      {
        name: 'keyUsage',
        keyCertSign: true,
        cRLSign: true,
        digitalSignature: true,
        keyEncipherment: true,
        critical: true,
      },
      { name: 'subjectKeyIdentifier' },
    ],
  }).certDer;
  return { certPem: derToPem(certDer), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export function loadCertificateAuthority(pair: PemCertificateAndKey): CertificateAuthority {
  const certificate = new X509Certificate(pair.certPem);
  const key = createPrivateKey(pair.keyPem);
  if (!certificate.checkPrivateKey(key))
    throw new CertificateIssueError('CA private key does not match the CA certificate');
  if (!certificate.ca) throw new CertificateIssueError('CA certificate lacks basicConstraints cA=TRUE');
  // RSA only: we sign with sha256WithRSAEncryption and SCEP clients encrypt their CSR to this key (key transport).
  if (key.asymmetricKeyType !== 'rsa') throw new CertificateIssueError('the CA key must be RSA');
  const parts = certificateParts(certificate.raw);
  return {
    certPem: certificate.toString(),
    certDer: certificate.raw,
    certificate,
    key,
    subjectNameDer: parts.subjectNameDer,
    subjectKeyId: parts.subjectKeyId ?? keyIdentifierFor(certificate.publicKey),
  };
}

/**
 * Leaf for signing .mobileconfig profiles: digitalSignature only, deliberately no extendedKeyUsage — an absent
 * EKU means "any purpose", which is what iOS evaluates profile signatures against (it has no dedicated
 * profile-signing EKU, and codeSigning/emailProtection would only narrow what OpenSSL's S/MIME check accepts).
 */
export function issueSigningCertificate(
  ca: CertificateAuthority,
  options: { commonName: string; organization?: string; validityDays: number },
): PemCertificateAndKey & IssuedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const subject: NameAttribute[] = [{ type: 'CN', value: options.commonName }];
  if (options.organization) subject.push({ type: 'O', value: options.organization });
  const issued = buildCertificate({
    subject,
    publicKey,
    issuer: ca,
    validityDays: options.validityDays,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  return { ...issued, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/**
 * Device identity (SCEP-issued) certificate: clientAuth EKU so it is only good for authenticating to us.
 * The key comes from the CSR (normal SCEP path) or directly from `publicKey`. Without `subject` the CSR's
 * subject Name is copied byte for byte.
 */
export function issueDeviceCertificate(
  ca: CertificateAuthority,
  options: {
    csrDer?: Buffer;
    publicKey?: KeyObject | string;
    subject?: DistinguishedName;
    validityDays: number;
    /** Hex serial; a random positive 16-octet serial when omitted. */
    serial?: string;
  },
): IssuedCertificate {
  let publicKey: KeyObject;
  let subject: DistinguishedName | Buffer;
  if (options.csrDer) {
    const csr = parseCertificationRequest(options.csrDer);
    publicKey = csr.publicKey;
    subject = options.subject ?? csr.subjectNameDer;
  } else if (options.publicKey) {
    publicKey = typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey;
    if (!options.subject) throw new CertificateIssueError('subject is required when issuing from a bare public key');
    subject = options.subject;
  } else {
    throw new CertificateIssueError('either csrDer or publicKey is required');
  }
  return buildCertificate({
    subject,
    publicKey,
    issuer: ca,
    validityDays: options.validityDays,
    serialHex: options.serial,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: ca.subjectKeyId.toString('binary') },
    ],
  });
}

/** A short-lived self-signed certificate, as SCEP clients make to sign their first PKCSReq. */
export function createSelfSignedCertificate(options: {
  subject: DistinguishedName;
  publicKey: KeyObject;
  privateKey: KeyObject;
  validityDays: number;
}): IssuedCertificate {
  return buildCertificate({
    subject: options.subject,
    publicKey: options.publicKey,
    signingKey: options.privateKey,
    validityDays: options.validityDays,
    extensions: [{ name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true }],
  });
}

export function certificateFingerprintSha256(certDer: Buffer): string {
  return createHash('sha256').update(certDer).digest('hex');
}

export function summarizeCertificate(cert: Buffer | string): CertificateSummary {
  const x509 = new X509Certificate(cert);
  return {
    serialHex: x509.serialNumber.toLowerCase(),
    subject: x509.subject.split('\n').join(', '),
    issuer: x509.issuer.split('\n').join(', '),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    fingerprintSha256: certificateFingerprintSha256(x509.raw),
    extendedKeyUsage: x509.keyUsage ?? [],
  };
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function pemToDer(pem: string): Buffer {
  return new X509Certificate(pem).raw;
}

/** Positive 16-octet serial: top bit cleared (INTEGER stays positive), top octet non-zero (length stays 16). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0] & 0x7f || 0x01;
  return bytes.toString('hex');
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifierFor(publicKey: KeyObject): Buffer {
  const spki = sequenceOf(parseDer(publicKey.export({ type: 'spki', format: 'der' })), 'SubjectPublicKeyInfo');
  const bits = Buffer.from(spki[1].value as string, 'binary').subarray(1);
  return createHash('sha1').update(bits).digest();
}

type ForgeExtension = Record<string, unknown> & { name: string };

interface BuildCertificateOptions {
  subject: DistinguishedName | Buffer;
  publicKey: KeyObject;
  /** Omitted → self-signed with `signingKey`. */
  issuer?: CertificateAuthority;
  signingKey?: KeyObject;
  validityDays: number;
  serialHex?: string;
  extensions: ForgeExtension[];
}

function buildCertificate(options: BuildCertificateOptions): IssuedCertificate {
  if (!(options.validityDays > 0)) throw new CertificateIssueError('validityDays must be positive');
  const serialHex = normalizeSerial(options.serialHex ?? randomSerialHex());
  const cert = forge.pki.createCertificate();
  cert.publicKey = toForgePublicKey(options.publicKey);
  cert.serialNumber = serialHex;
  const now = Date.now();
  cert.validity.notBefore = new Date(Math.floor((now - CLOCK_SKEW_MS) / 1000) * 1000);
  cert.validity.notAfter = new Date(Math.floor((now + options.validityDays * DAY_MS) / 1000) * 1000);
  // forge needs *some* names to lay out the TBS; the real ones are spliced in below as exact DER.
  cert.setSubject([{ shortName: 'CN', value: 'placeholder' }]);
  cert.setIssuer([{ shortName: 'CN', value: 'placeholder' }]);
  cert.setExtensions(options.extensions);
  cert.siginfo.algorithmOid = Oid.sha256WithRSAEncryption;
  (cert as unknown as { signatureOid: string }).signatureOid = Oid.sha256WithRSAEncryption;

  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): Asn1 }).getTBSCertificate(cert);
  const fields = tbs.value as Asn1[];
  // Issuer is copied from the CA byte for byte (chain building compares names); a CSR subject likewise.
  const subjectNameDer = Buffer.isBuffer(options.subject) ? options.subject : encodeName(options.subject);
  fields[3] = parseDer(options.issuer ? options.issuer.subjectNameDer : subjectNameDer);
  fields[5] = parseDer(subjectNameDer);
  const tbsDer = toDer(tbs);

  const signingKey = options.issuer?.key ?? options.signingKey;
  if (!signingKey) throw new CertificateIssueError('no signing key');
  const signature = sign('sha256', tbsDer, signingKey);
  const certDer = sequence(tbsDer, algorithmIdentifier(Oid.sha256WithRSAEncryption), bitString(signature));
  return {
    certDer,
    certPem: derToPem(certDer),
    serialHex: serialHex.replace(/^00/, ''),
    fingerprintSha256: certificateFingerprintSha256(certDer),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

function normalizeSerial(hex: string): string {
  const clean = hex.toLowerCase();
  if (!/^[0-9a-f]+$/.test(clean) || clean.length > 40) throw new CertificateIssueError(`bad serial "${hex}"`);
  const even = clean.length % 2 ? `0${clean}` : clean;
  return Number.parseInt(even[0], 16) >= 8 ? `00${even}` : even;
}

function toForgePublicKey(publicKey: KeyObject): forge.pki.PublicKey {
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new CertificateIssueError(`only RSA keys can be certified (got ${publicKey.asymmetricKeyType})`);
  }
  const spki = parseDer(publicKey.export({ type: 'spki', format: 'der' }), { decodeBitStrings: true });
  return forge.pki.publicKeyFromAsn1(spki);
}
