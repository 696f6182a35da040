/** Object identifiers used across the PKI code, named after their ASN.1 module names. */
export const Oid = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',

  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',

  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  ecPublicKey: '1.2.840.10045.2.1',

  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',

  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  desEde3Cbc: '1.2.840.113549.3.7',

  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  authorityKeyIdentifier: '2.5.29.35',
  clientAuth: '1.3.6.1.5.5.7.3.2',

  // SCEP attributes (RFC 8894 §3.2.1, VeriSign arc)
  scepMessageType: '2.16.840.1.113733.1.9.2',
  scepPkiStatus: '2.16.840.1.113733.1.9.3',
  scepFailInfo: '2.16.840.1.113733.1.9.4',
  scepSenderNonce: '2.16.840.1.113733.1.9.5',
  scepRecipientNonce: '2.16.840.1.113733.1.9.6',
  scepTransactionId: '2.16.840.1.113733.1.9.7',
} as const;

export type DigestName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const digestByOid: Record<string, DigestName> = {
  [Oid.sha1]: 'sha1',
  [Oid.sha256]: 'sha256',
  [Oid.sha384]: 'sha384',
  [Oid.sha512]: 'sha512',
};

export function digestNameForOid(oid: string): DigestName | undefined {
  return digestByOid[oid];
}

export function oidForDigest(name: DigestName): string {
  return Oid[name];
}

/** SignerInfo.signatureAlgorithm values we verify: PKCS#1 v1.5 (bare or hash-qualified) and ECDSA. */
const acceptedSignatureAlgorithms = new Set<string>([
  Oid.rsaEncryption,
  Oid.sha1WithRSAEncryption,
  Oid.sha256WithRSAEncryption,
  Oid.sha384WithRSAEncryption,
  Oid.sha512WithRSAEncryption,
  Oid.ecdsaWithSha256,
  Oid.ecdsaWithSha384,
  Oid.ecdsaWithSha512,
]);

export function isAcceptedSignatureAlgorithm(oid: string): boolean {
  return acceptedSignatureAlgorithms.has(oid);
}
