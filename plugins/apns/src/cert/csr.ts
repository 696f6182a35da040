import { createPrivateKey, createPublicKey, generateKeyPair, sign, verify, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { build as buildPlist } from 'plist';
import { asn1ToDer, derToAsn1, pemBlockToDer, signCertificationRequest } from './der.js';
import { PushCertificateError } from './errors.js';

const generateRsa = promisify(generateKeyPair);

export interface PushCsrSubject {
  commonName: string;
  organization: string;
  email?: string;
  /** Two-letter country code, optional. */
  country?: string;
}

export interface GeneratedCsr {
  csrPem: string;
  /** PKCS#8 PEM, unencrypted: store it encrypted; the push certificate Apple issues is useless without it. */
  keyPem: string;
}

/** A fresh RSA 2048 key and a SHA-256 signed PKCS#10 request for Apple's MDM push certificate. */
export async function generatePushCsr(subject: PushCsrSubject): Promise<GeneratedCsr> {
  const { privateKey, publicKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey);
  const attributes: forge.pki.CertificateField[] = [
    {
      name: 'commonName',
      value: subject.commonName,
      valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class,
    },
    {
      name: 'organizationName',
      value: subject.organization,
      valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class,
    },
  ];
  if (subject.country) attributes.push({ name: 'countryName', value: subject.country });
  // emailAddress is an IA5String by definition.
  if (subject.email)
    attributes.push({
      name: 'emailAddress',
      value: subject.email,
      valueTagClass: forge.asn1.Type.IA5STRING as unknown as forge.asn1.Class,
    });
  csr.setSubject(attributes);
  signCertificationRequest(csr, privateKey);
  return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: privateKey };
}

export interface VendorSigningInput {
  /** The customer's CSR (from generatePushCsr, or one they made themselves). */
  csrPem: string;
  /** MDM vendor ("MDM CSR") certificate Apple issued to the vendor, and its key. */
  vendorCertPem: string;
  vendorKeyPem: string;
  /** Apple's intermediate (WWDR) and root certificates, in order; Apple's portal expects the full chain. */
  vendorChainPems?: string[];
  /** Apple's current instructions use SHA-256; older tools used SHA-1. */
  digest?: 'sha256' | 'sha1';
}

const HASH_OF_SIGNATURE_OID: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

/** Checks the CSR's own signature (proof of key possession) with node:crypto; returns its DER. */
function verifiedCsrDer(csrPem: string): Buffer {
  const der = pemBlockToDer(csrPem, 'CERTIFICATE REQUEST') ?? pemBlockToDer(csrPem, 'NEW CERTIFICATE REQUEST');
  if (!der) throw new PushCertificateError('bad-csr', 'not a PEM certificate signing request');
  try {
    const [info, algorithm, signature] = derToAsn1(der).value as forge.asn1.Asn1[];
    const spki = (info.value as forge.asn1.Asn1[])[2];
    const oid = forge.asn1.derToOid((algorithm.value as forge.asn1.Asn1[])[0].value as string);
    const hash = HASH_OF_SIGNATURE_OID[oid];
    if (!hash) throw new Error(`unsupported signature algorithm ${oid}`);
    const publicKey = createPublicKey({ key: asn1ToDer(spki), format: 'der', type: 'spki' });
    const signatureBytes = Buffer.from((signature.value as string).slice(1), 'binary');
    if (!verify(hash, asn1ToDer(info), publicKey, signatureBytes)) throw new Error('signature does not verify');
  } catch (error) {
    if (error instanceof PushCertificateError) throw error;
    throw new PushCertificateError('bad-csr', `invalid certificate signing request: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return der;
}

function sameKey(certPem: string, keyPem: string): boolean {
  const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return fromCert.equals(fromKey);
}

/**
 * The MDM vendor's step: signs the customer's CSR and wraps it as the base64 plist "request file" Apple's Push
 * Certificates Portal (identity.apple.com/pushcert) accepts: PushCertRequestCSR (base64 CSR DER),
 * PushCertCertificateChain (PEM: vendor certificate, Apple intermediate, Apple root) and PushCertSignature
 * (base64 RSA signature of the CSR DER with the vendor key).
 */
export function signCsrWithVendorCertificate(input: VendorSigningInput): string {
  const csrDer = verifiedCsrDer(input.csrPem);
  let vendorMatches: boolean;
  try {
    vendorMatches = sameKey(input.vendorCertPem, input.vendorKeyPem);
  } catch (error) {
    throw new PushCertificateError('unsupported-file', 'vendor certificate or key could not be read', { cause: error });
  }
  if (!vendorMatches)
    throw new PushCertificateError('key-mismatch', 'the vendor key does not belong to the vendor certificate');
  const signature = sign(input.digest ?? 'sha256', csrDer, input.vendorKeyPem);
  const chain = [input.vendorCertPem, ...(input.vendorChainPems ?? [])].map((pem) => `${pem.trim()}\n`).join('');
  const xml = buildPlist({
    PushCertRequestCSR: csrDer.toString('base64'),
    PushCertCertificateChain: chain,
    PushCertSignature: signature.toString('base64'),
  });
  return Buffer.from(xml, 'utf8').toString('base64');
}
