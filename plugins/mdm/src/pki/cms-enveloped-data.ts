/**
 * CMS EnvelopedData with RSA key transport (the only recipient kind SCEP uses) and CBC content encryption.
 *
 * node 20 refuses RSA_PKCS1_PADDING in privateDecrypt (CVE-2023-46809, Marvin), so the key transport is
 * decrypted raw (RSA_NO_PADDING) and unpadded here with implicit rejection: a bad padding yields a random
 * content key of the right size instead of an error, so the caller sees the same failure (content does not
 * decrypt) whether the RSA padding or the symmetric layer was wrong — no padding oracle.
 */

import type { KeyObject } from 'node:crypto';
import {
  constants,
  createCipheriv,
  createDecipheriv,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import forge from 'node-forge';
import {
  type Asn1,
  isContext,
  primitiveBytes,
  readOid,
  readSmallInteger,
  readStringSegments,
  sequenceOf,
  setItems,
  toDer,
} from './asn1-guard.js';
import { certificateParts } from './certificate-parts.js';
import { readContentInfo } from './cms-signed-data.js';
import {
  algorithmIdentifier,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  setOf,
  smallInteger,
} from './der.js';
import { EnvelopeDecryptionError, PkiFormatError } from './errors.js';
import { Oid } from './oids.js';

export type ContentCipher = 'aes-128-cbc' | 'aes-256-cbc' | 'des-ede3-cbc';

const cipherByOid: Record<string, { name: ContentCipher; keyLength: number; ivLength: number }> = {
  [Oid.aes128Cbc]: { name: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  [Oid.aes256Cbc]: { name: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  [Oid.desEde3Cbc]: { name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
};
const oidByCipher: Record<ContentCipher, string> = {
  'aes-128-cbc': Oid.aes128Cbc,
  'aes-256-cbc': Oid.aes256Cbc,
  'des-ede3-cbc': Oid.desEde3Cbc,
};

/** ContentInfo { envelopedData } carrying `content` for the holder of `recipientCertDer`'s private key. */
export function encryptEnvelopedData(
  content: Buffer,
  recipientCertDer: Buffer,
  cipher: ContentCipher = 'aes-256-cbc',
): Buffer {
  const spec = cipherByOid[oidByCipher[cipher]];
  const recipient = new X509Certificate(recipientCertDer);
  if (recipient.publicKey.asymmetricKeyType !== 'rsa') {
    throw new PkiFormatError('unsupported', 'EnvelopedData recipients must have RSA keys (key transport)');
  }
  const contentKey = randomBytes(spec.keyLength);
  const iv = randomBytes(spec.ivLength);
  const encipher = createCipheriv(cipher, contentKey, iv);
  const encryptedContent = Buffer.concat([encipher.update(content), encipher.final()]);
  const encryptedKey = publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, contentKey);

  const recipientInfo = sequence(
    smallInteger(0),
    certificateParts(recipientCertDer).issuerAndSerialDer,
    algorithmIdentifier(Oid.rsaEncryption),
    octetString(encryptedKey),
  );
  const envelopedData = sequence(
    smallInteger(0),
    setOf(recipientInfo),
    sequence(
      oid(Oid.data),
      algorithmIdentifier(oidByCipher[cipher], octetString(iv)),
      implicitPrimitive(0, encryptedContent),
    ),
  );
  return sequence(oid(Oid.envelopedData), explicit(0, envelopedData));
}

export interface DecryptedEnvelope {
  content: Buffer;
  cipher: ContentCipher;
}

/**
 * Opens an EnvelopedData addressed to `recipientCertDer` (matched by issuer+serial or subjectKeyIdentifier).
 * Structure problems throw PkiFormatError; anything key-related throws EnvelopeDecryptionError.
 */
export function decryptEnvelopedData(
  input: Buffer | Asn1,
  recipientCertDer: Buffer,
  recipientKey: KeyObject,
): DecryptedEnvelope {
  const { contentType, content } = readContentInfo(input);
  if (contentType !== Oid.envelopedData)
    throw new PkiFormatError('malformed', `expected EnvelopedData, got ${contentType}`);
  const fields = sequenceOf(content, 'EnvelopedData');
  readSmallInteger(fields[0], 'EnvelopedData version');
  const index = isContext(fields[1], 0) ? 2 : 1; // originatorInfo is optional
  const ours = certificateParts(recipientCertDer);

  let encryptedKey: Buffer | undefined;
  for (const recipientInfo of setItems(fields[index], 'RecipientInfos')) {
    // Only KeyTransRecipientInfo (a plain SEQUENCE); kari/kekri/pwri are [n]-tagged and skipped.
    if (recipientInfo.tagClass !== forge.asn1.Class.UNIVERSAL) continue;
    const [, ridNode, algorithmNode, keyNode] = sequenceOf(recipientInfo, 'KeyTransRecipientInfo');
    const matches = isContext(ridNode, 0)
      ? !!ours.subjectKeyId && ours.subjectKeyId.equals(readStringSegments(ridNode, 'rid'))
      : toDer(ridNode).equals(ours.issuerAndSerialDer);
    if (!matches) continue;
    const algorithm = readOid(sequenceOf(algorithmNode, 'keyEncryptionAlgorithm')[0], 'keyEncryptionAlgorithm');
    if (algorithm !== Oid.rsaEncryption)
      throw new PkiFormatError('unsupported', `key transport ${algorithm} is not supported`);
    encryptedKey = primitiveBytes(keyNode, forge.asn1.Type.OCTETSTRING, 'encryptedKey');
  }
  if (!encryptedKey) throw new EnvelopeDecryptionError('EnvelopedData is not addressed to our certificate');

  const [, algorithmNode, encryptedNode] = sequenceOf(fields[index + 1], 'EncryptedContentInfo');
  const [cipherOidNode, ivNode] = sequenceOf(algorithmNode, 'contentEncryptionAlgorithm');
  const cipherOid = readOid(cipherOidNode, 'contentEncryptionAlgorithm');
  const spec = cipherByOid[cipherOid];
  if (!spec) throw new PkiFormatError('unsupported', `content encryption ${cipherOid} is not supported`);
  const iv = primitiveBytes(ivNode, forge.asn1.Type.OCTETSTRING, 'IV');
  if (iv.length !== spec.ivLength) throw new PkiFormatError('malformed', `IV must be ${spec.ivLength} bytes`);
  if (!isContext(encryptedNode, 0)) throw new PkiFormatError('malformed', 'encryptedContent missing');
  const encryptedContent = readStringSegments(encryptedNode, 'encryptedContent');

  const contentKey = unwrapContentKey(encryptedKey, recipientKey, spec.keyLength);
  try {
    const decipher = createDecipheriv(spec.name, contentKey, iv);
    return { content: Buffer.concat([decipher.update(encryptedContent), decipher.final()]), cipher: spec.name };
  } catch (error) {
    throw new EnvelopeDecryptionError('EnvelopedData content did not decrypt', { cause: error });
  }
}

/** RSAES-PKCS1-v1_5 decryption with implicit rejection (see file comment). */
function unwrapContentKey(encryptedKey: Buffer, key: KeyObject, keyLength: number): Buffer {
  let block: Buffer;
  try {
    block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, encryptedKey);
  } catch (error) {
    // Wrong length / value ≥ modulus: public facts about the ciphertext, not a padding oracle.
    throw new EnvelopeDecryptionError('encrypted content key is not a valid RSA ciphertext for our key', {
      cause: error,
    });
  }
  // EM = 0x00 || 0x02 || PS (≥ 8 non-zero) || 0x00 || M. Scan the whole block without early exit.
  const separatorIndex = block.length - keyLength - 1;
  let bad =
    (block[0] !== 0 ? 1 : 0) |
    (block[1] !== 2 ? 1 : 0) |
    (block[separatorIndex] !== 0 ? 1 : 0) |
    (separatorIndex < 10 ? 1 : 0);
  for (let i = 2; i < block.length; i++) {
    if (i < separatorIndex) bad |= block[i] === 0 ? 1 : 0;
  }
  const fallback = randomBytes(keyLength);
  return bad ? fallback : block.subarray(separatorIndex + 1);
}
