import { sign } from 'node:crypto';
import forge from 'node-forge';

/** forge builds the structure; node:crypto signs (forge's JS RSA is far slower). */
interface ForgeStructure {
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
}

export function asn1ToDer(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
}

export function derToAsn1(der: Buffer): forge.asn1.Asn1 {
  return forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
}

/** Decodes the first PEM block of the given label ("CERTIFICATE REQUEST", ...) to DER. */
export function pemBlockToDer(pem: string, label: string): Buffer | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  return match ? Buffer.from(match[1].replace(/\s+/g, ''), 'base64') : undefined;
}

export function derToPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\r\n${lines.join('\r\n')}\r\n-----END ${label}-----\r\n`;
}

/** Signs a forge CSR (subject and public key already set) with SHA-256/RSA using node:crypto. */
export function signCertificationRequest(csr: forge.pki.CertificateSigningRequest, keyPem: string): void {
  csr.signatureOid = forge.pki.oids.sha256WithRSAEncryption;
  csr.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  const info = (forge.pki as unknown as ForgeStructure).getCertificationRequestInfo(csr);
  csr.certificationRequestInfo = info;
  csr.signature = sign('sha256', asn1ToDer(info), keyPem).toString('binary');
}
