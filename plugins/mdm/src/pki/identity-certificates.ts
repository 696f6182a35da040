/**
 * Device identities for any key the device made (RSA from SCEP, EC P-256/P-384 from ACME). forge certifies only RSA
 * keys, so these are built with @peculiar/x509 and signed by the CA key through WebCrypto.
 */
import { createHash, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;

// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { type CertificateAuthority, type IssuedCertificate, keyIdentifierFor } from './certificates.js';
import { parseCertificationRequest } from './csr.js';
import { CertificateIssueError } from './errors.js';

const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const CA_SIGNATURE: webcrypto.RsaHashedImportParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

const signingKeys = new WeakMap<CertificateAuthority, Promise<CryptoKey>>();

/** The CA key as a WebCrypto signing key (imported once per loaded CA). */
function caSigningKey(ca: CertificateAuthority): Promise<CryptoKey> {
  let key = signingKeys.get(ca);
  if (!key) {
    const pkcs8 = ca.key.export({ type: 'pkcs8', format: 'der' });
    key = webcrypto.subtle.importKey('pkcs8', pkcs8, CA_SIGNATURE, false, ['sign']);
    signingKeys.set(ca, key);
  }
  return key;
}

/** Certifies the CSR's key (after checking its self-signature) with clientAuth only; the subject is copied. */
export async function issueIdentityCertificate(
  ca: CertificateAuthority,
  options: { csrDer: Buffer; validityDays: number; serialHex: string },
): Promise<IssuedCertificate> {
  const csr = parseCertificationRequest(options.csrDer);
  const spki = csr.publicKey.export({ type: 'spki', format: 'der' });
  const rsa = csr.publicKey.asymmetricKeyType === 'rsa';
  if (!rsa && csr.publicKey.asymmetricKeyType !== 'ec')
    throw new CertificateIssueError(`only RSA and EC keys can be certified (got ${csr.publicKey.asymmetricKeyType})`);
  const now = Date.now();
  const notBefore = new Date(now - CLOCK_SKEW_MS);
  const notAfter = new Date(now + options.validityDays * DAY_MS);
  const usage = rsa
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement;
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: options.serialHex,
    subject: new x509.Name(csr.subjectNameDer),
    issuer: new x509.Name(ca.subjectNameDer),
    notBefore,
    notAfter,
    publicKey: new x509.PublicKey(spki),
    signingKey: await caSigningKey(ca),
    signingAlgorithm: CA_SIGNATURE,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectKeyIdentifierExtension(keyIdentifierFor(csr.publicKey).toString('hex')),
      new x509.AuthorityKeyIdentifierExtension(ca.subjectKeyId.toString('hex')),
    ],
  });
  const certDer = Buffer.from(certificate.rawData);
  return {
    certDer,
    certPem: certificate.toString('pem'),
    serialHex: certificate.serialNumber.toLowerCase(),
    fingerprintSha256: createHash('sha256').update(certDer).digest('hex'),
    notBefore,
    notAfter,
  };
}
