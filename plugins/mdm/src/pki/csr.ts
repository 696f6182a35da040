/** PKCS#10 certification requests: read with forge's ASN.1, verify/sign with node:crypto. */

import type { KeyObject } from 'node:crypto';
import { createPublicKey, sign, verify } from 'node:crypto';
import forge from 'node-forge';
import {
  type Asn1,
  isContext,
  parseDer,
  primitiveBytes,
  readOid,
  readSmallInteger,
  readText,
  sequenceOf,
  setItems,
  toDer,
} from './asn1-guard.js';
import {
  algorithmIdentifier,
  bitString,
  implicitConstructed,
  oid,
  sequence,
  setOf,
  smallInteger,
  utf8String,
} from './der.js';
import { PkiFormatError } from './errors.js';
import { type DistinguishedName, decodeName, encodeName, formatName } from './names.js';
import { Oid } from './oids.js';

export interface CertificationRequest {
  subject: DistinguishedName;
  /** "CN=..., O=..." for logs. */
  subjectString: string;
  /** Exact DER of the subject Name, for copying into the issued certificate unchanged. */
  subjectNameDer: Buffer;
  publicKey: KeyObject;
  publicKeyPem: string;
  challengePassword?: string;
}

const signatureDigestByOid: Record<string, string> = {
  [Oid.sha1WithRSAEncryption]: 'sha1',
  [Oid.sha256WithRSAEncryption]: 'sha256',
  [Oid.sha384WithRSAEncryption]: 'sha384',
  [Oid.sha512WithRSAEncryption]: 'sha512',
  [Oid.ecdsaWithSha256]: 'sha256',
  [Oid.ecdsaWithSha384]: 'sha384',
  [Oid.ecdsaWithSha512]: 'sha512',
};

/** Parses a CSR and checks its self-signature (proof of possession); throws PkiFormatError otherwise. */
export function parseCertificationRequest(csrDer: Buffer): CertificationRequest {
  const [infoNode, algorithmNode, signatureNode] = sequenceOf(parseDer(csrDer), 'CertificationRequest');
  const info = sequenceOf(infoNode, 'CertificationRequestInfo');
  if (readSmallInteger(info[0], 'CSR version') !== 0) throw new PkiFormatError('unsupported', 'CSR version must be 0');
  const subjectNameNode = info[1];
  const subject = decodeName(subjectNameNode);

  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: toDer(info[2]), format: 'der', type: 'spki' });
  } catch (error) {
    throw new PkiFormatError('unsupported', 'CSR public key is not a readable SubjectPublicKeyInfo', { cause: error });
  }

  const algorithm = readOid(sequenceOf(algorithmNode, 'signatureAlgorithm')[0], 'signature algorithm');
  const digest = signatureDigestByOid[algorithm];
  if (!digest) throw new PkiFormatError('unsupported', `CSR signature algorithm ${algorithm} is not supported`);
  const signatureBits = primitiveBytes(signatureNode, forge.asn1.Type.BITSTRING, 'CSR signature');
  if (signatureBits[0] !== 0) throw new PkiFormatError('malformed', 'CSR signature has unused bits');
  if (!verify(digest, toDer(infoNode), publicKey, signatureBits.subarray(1))) {
    throw new PkiFormatError('malformed', 'CSR self-signature does not verify');
  }

  return {
    subject,
    subjectString: formatName(subject),
    subjectNameDer: toDer(subjectNameNode),
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    challengePassword: readChallengePassword(info[3]),
  };
}

function readChallengePassword(attributesNode: Asn1 | undefined): string | undefined {
  if (!isContext(attributesNode, 0)) return undefined;
  for (const attribute of attributesNode.value as Asn1[]) {
    const [typeNode, valuesNode] = sequenceOf(attribute, 'CSR attribute');
    if (readOid(typeNode, 'CSR attribute type') !== Oid.challengePassword) continue;
    const [value] = setItems(valuesNode, 'challengePassword values');
    return readText(value, 'challengePassword');
  }
  return undefined;
}

/** Client side (device simulator): a CSR signed with SHA-256 by `privateKey`. */
export function buildCertificationRequest(options: {
  subject: DistinguishedName;
  publicKey: KeyObject;
  privateKey: KeyObject;
  challengePassword?: string;
}): Buffer {
  const attributes: Buffer[] = [];
  if (options.challengePassword !== undefined) {
    attributes.push(sequence(oid(Oid.challengePassword), setOf(utf8String(options.challengePassword))));
  }
  const info = sequence(
    smallInteger(0),
    encodeName(options.subject),
    options.publicKey.export({ type: 'spki', format: 'der' }),
    implicitConstructed(0, ...attributes.sort(Buffer.compare)),
  );
  const ecdsa = options.privateKey.asymmetricKeyType === 'ec';
  const algorithm = ecdsa
    ? algorithmIdentifier(Oid.ecdsaWithSha256, null)
    : algorithmIdentifier(Oid.sha256WithRSAEncryption);
  return sequence(info, algorithm, bitString(sign('sha256', info, options.privateKey)));
}
