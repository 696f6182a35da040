/**
 * CMS SignedData (RFC 5652) writer and reader shared by profile signing, Mdm-Signature checks and SCEP.
 * Writing uses der.ts; reading uses forge's ASN.1 parser behind asn1-guard.ts; all hashing and RSA/ECDSA
 * work is node:crypto.
 */

import type { KeyObject } from 'node:crypto';
import { createHash, sign, timingSafeEqual, verify } from 'node:crypto';
import forge from 'node-forge';
import {
  type Asn1,
  asUniversalSet,
  isContext,
  type ParseLimits,
  parseDer,
  primitiveBytes,
  readOctetString,
  readOid,
  readSmallInteger,
  sequenceOf,
  setItems,
  toDer,
} from './asn1-guard.js';
import { certificateParts } from './certificate-parts.js';
import {
  algorithmIdentifier,
  explicit,
  implicitConstructed,
  octetString,
  oid,
  sequence,
  setOf,
  smallInteger,
  time,
} from './der.js';
import { PkiFormatError } from './errors.js';
import { type DigestName, digestNameForOid, isAcceptedSignatureAlgorithm, Oid, oidForDigest } from './oids.js';

export interface CmsSigner {
  certDer: Buffer;
  key: KeyObject;
}

export interface BuildSignedDataOptions {
  /** Bytes to sign. `null` signs an empty content and omits eContent (SCEP FAILURE/PENDING replies). */
  content: Buffer | null;
  /** Leave eContent out (the Mdm-Signature header signs the HTTP body, which travels separately). */
  detached?: boolean;
  digest?: DigestName;
  signer: CmsSigner;
  /** Certificates to embed (signer first by convention, then chain). */
  certificates: readonly Buffer[];
  /** Extra complete Attribute DERs (SCEP's transactionID, messageType, ...). */
  extraSignedAttributes?: readonly Buffer[];
  /** Precomputed IssuerAndSerialNumber of the signer (hot path: the profile signer caches it). */
  signerIdentifierDer?: Buffer;
}

export function signedAttribute(type: string, ...values: Buffer[]): Buffer {
  return sequence(oid(type), setOf(...values));
}

/** Returns DER of ContentInfo { signedData }. */
export function buildSignedData(options: BuildSignedDataOptions): Buffer {
  const digest = options.digest ?? 'sha256';
  const content = options.content ?? Buffer.alloc(0);
  const messageDigest = createHash(digest).update(content).digest();
  const attributes = [
    signedAttribute(Oid.contentType, oid(Oid.data)),
    signedAttribute(Oid.signingTime, time(new Date())),
    signedAttribute(Oid.messageDigest, octetString(messageDigest)),
    ...(options.extraSignedAttributes ?? []),
  ];
  // DER sorts SET OF; the signature covers the universal-SET encoding, the message carries it as [0] IMPLICIT.
  const signedAttributesSet = setOf(...attributes);
  const signature = sign(digest, signedAttributesSet, options.signer.key);
  const ecdsa = options.signer.key.asymmetricKeyType === 'ec';
  const signatureAlgorithm = ecdsa
    ? algorithmIdentifier(ecdsaOidFor(digest), null)
    : algorithmIdentifier(Oid.rsaEncryption);
  const digestAlgorithm = algorithmIdentifier(oidForDigest(digest), null);

  const signerInfo = sequence(
    smallInteger(1),
    options.signerIdentifierDer ?? certificateParts(options.signer.certDer).issuerAndSerialDer,
    digestAlgorithm,
    Buffer.concat([Buffer.from([0xa0]), signedAttributesSet.subarray(1)]),
    signatureAlgorithm,
    octetString(signature),
  );
  const encapsulated =
    options.detached || options.content === null
      ? sequence(oid(Oid.data))
      : sequence(oid(Oid.data), explicit(0, octetString(content)));
  const signedData = sequence(
    smallInteger(1),
    setOf(digestAlgorithm),
    encapsulated,
    implicitConstructed(0, ...options.certificates),
    setOf(signerInfo),
  );
  return sequence(oid(Oid.signedData), explicit(0, signedData));
}

/** A "degenerate" certs-only SignedData (RFC 8894 §3.3.2: how a CertRep carries the issued certificate). */
export function buildCertificatesOnly(certificates: readonly Buffer[]): Buffer {
  const signedData = sequence(
    smallInteger(1),
    setOf(),
    sequence(oid(Oid.data)),
    implicitConstructed(0, ...certificates),
    setOf(),
  );
  return sequence(oid(Oid.signedData), explicit(0, signedData));
}

function ecdsaOidFor(digest: DigestName): string {
  if (digest === 'sha384') return Oid.ecdsaWithSha384;
  if (digest === 'sha512') return Oid.ecdsaWithSha512;
  return Oid.ecdsaWithSha256;
}

export interface SignerIdentifier {
  issuerAndSerialDer?: Buffer;
  subjectKeyId?: Buffer;
}

export interface ParsedSignerInfo {
  sid: SignerIdentifier;
  digest: DigestName;
  signatureAlgorithm: string;
  signature: Buffer;
  /** DER of the signed attributes re-tagged as SET (the bytes the signature covers); undefined if absent. */
  signedAttributesDer?: Buffer;
  /** attribute OID → its values. */
  attributes: Map<string, Asn1[]>;
}

export interface ParsedSignedData {
  eContentType: string;
  /** Encapsulated content; undefined for detached signatures. */
  eContent?: Buffer;
  certificates: Buffer[];
  signerInfos: ParsedSignerInfo[];
}

/** ContentInfo → (contentType, content node). */
export function readContentInfo(input: Buffer | Asn1, limits?: ParseLimits): { contentType: string; content?: Asn1 } {
  const node = Buffer.isBuffer(input) ? parseDer(input, limits) : input;
  const [typeNode, contentNode] = sequenceOf(node, 'ContentInfo');
  const contentType = readOid(typeNode, 'contentType');
  if (contentNode === undefined) return { contentType };
  if (!isContext(contentNode, 0) || !Array.isArray(contentNode.value) || contentNode.value.length !== 1) {
    throw new PkiFormatError('malformed', 'ContentInfo content must be [0] EXPLICIT');
  }
  return { contentType, content: contentNode.value[0] };
}

export function parseSignedData(input: Buffer | Asn1, limits?: ParseLimits): ParsedSignedData {
  const { contentType, content } = readContentInfo(input, limits);
  if (contentType !== Oid.signedData)
    throw new PkiFormatError('unsupported', `expected SignedData, got ${contentType}`);
  const fields = sequenceOf(content, 'SignedData');
  readSmallInteger(fields[0], 'SignedData version');
  const [eContentTypeNode, eContentWrapper] = sequenceOf(fields[2], 'EncapsulatedContentInfo');
  const eContentType = readOid(eContentTypeNode, 'eContentType');
  let eContent: Buffer | undefined;
  if (eContentWrapper !== undefined) {
    if (!isContext(eContentWrapper, 0) || !Array.isArray(eContentWrapper.value)) {
      throw new PkiFormatError('malformed', 'eContent must be [0] EXPLICIT');
    }
    eContent = readOctetString(eContentWrapper.value[0], 'eContent');
  }

  const certificates: Buffer[] = [];
  let index = 3;
  if (isContext(fields[index], 0)) {
    for (const choice of fields[index].value as Asn1[]) {
      // Only plain X.509 certificates; other CertificateChoices (attribute certs etc.) are ignored.
      if (choice.tagClass === forge.asn1.Class.UNIVERSAL && choice.type === forge.asn1.Type.SEQUENCE)
        certificates.push(toDer(choice));
    }
    index++;
  }
  if (isContext(fields[index], 1)) index++; // CRLs: not used
  const signerInfos = setItems(fields[index], 'SignerInfos').map(parseSignerInfo);
  return { eContentType, eContent, certificates, signerInfos };
}

function parseSignerInfo(node: Asn1): ParsedSignerInfo {
  const fields = sequenceOf(node, 'SignerInfo');
  readSmallInteger(fields[0], 'SignerInfo version');
  let sid: SignerIdentifier;
  if (isContext(fields[1], 0)) {
    if (typeof fields[1].value !== 'string')
      throw new PkiFormatError('malformed', 'subjectKeyIdentifier must be primitive');
    sid = { subjectKeyId: Buffer.from(fields[1].value, 'binary') };
  } else {
    sequenceOf(fields[1], 'IssuerAndSerialNumber');
    sid = { issuerAndSerialDer: toDer(fields[1]) };
  }
  const digestOid = readOid(sequenceOf(fields[2], 'digestAlgorithm')[0], 'digestAlgorithm');
  const digest = digestNameForOid(digestOid);
  if (!digest) throw new PkiFormatError('unsupported', `digest algorithm ${digestOid} is not supported`);

  let index = 3;
  let signedAttributesDer: Buffer | undefined;
  const attributes = new Map<string, Asn1[]>();
  if (isContext(fields[index], 0)) {
    signedAttributesDer = asUniversalSet(fields[index]);
    for (const attribute of fields[index].value as Asn1[]) {
      const [typeNode, valuesNode] = sequenceOf(attribute, 'Attribute');
      const type = readOid(typeNode, 'attribute type');
      // RFC 5652 §5.3: each signed attribute type appears once.
      if (attributes.has(type)) throw new PkiFormatError('malformed', `signed attribute ${type} repeated`);
      attributes.set(type, setItems(valuesNode, `values of ${type}`));
    }
    index++;
  }
  const signatureAlgorithm = readOid(sequenceOf(fields[index], 'signatureAlgorithm')[0], 'signatureAlgorithm');
  if (!isAcceptedSignatureAlgorithm(signatureAlgorithm)) {
    throw new PkiFormatError('unsupported', `signature algorithm ${signatureAlgorithm} is not supported`);
  }
  const signature = primitiveBytes(fields[index + 1], forge.asn1.Type.OCTETSTRING, 'signature');
  return { sid, digest, signatureAlgorithm, signature, signedAttributesDer, attributes };
}

/** The single value of a signed attribute, or undefined when absent; several values is malformed. */
export function singleAttributeValue(signerInfo: ParsedSignerInfo, type: string): Asn1 | undefined {
  const values = signerInfo.attributes.get(type);
  if (!values) return undefined;
  if (values.length !== 1) throw new PkiFormatError('malformed', `attribute ${type} must have exactly one value`);
  return values[0];
}

/** Picks the certificate the SignerIdentifier names. */
export function findSignerCertificate(certificates: readonly Buffer[], sid: SignerIdentifier): Buffer | undefined {
  return certificates.find((certDer) => {
    const parts = certificateParts(certDer);
    if (sid.issuerAndSerialDer) return parts.issuerAndSerialDer.equals(sid.issuerAndSerialDer);
    return !!sid.subjectKeyId && !!parts.subjectKeyId && parts.subjectKeyId.equals(sid.subjectKeyId);
  });
}

export type SignerCheck = 'ok' | 'digest-mismatch' | 'bad-signature' | 'content-type-mismatch';

/**
 * Checks one SignerInfo over `content` with the signer's public key: with signed attributes, messageDigest must
 * equal hash(content) and the signature must cover the attribute SET; without them, the signature covers content.
 */
export function checkSignerInfo(signerInfo: ParsedSignerInfo, content: Buffer, publicKey: KeyObject): SignerCheck {
  let signedBytes = content;
  if (signerInfo.signedAttributesDer) {
    const contentType = singleAttributeValue(signerInfo, Oid.contentType);
    const digestValue = singleAttributeValue(signerInfo, Oid.messageDigest);
    if (!contentType || !digestValue)
      throw new PkiFormatError('malformed', 'signed attributes lack contentType or messageDigest');
    if (readOid(contentType, 'contentType attribute') !== Oid.data) return 'content-type-mismatch';
    const claimed = primitiveBytes(digestValue, forge.asn1.Type.OCTETSTRING, 'messageDigest');
    const actual = createHash(signerInfo.digest).update(content).digest();
    if (claimed.length !== actual.length || !timingSafeEqual(claimed, actual)) return 'digest-mismatch';
    signedBytes = signerInfo.signedAttributesDer;
  }
  try {
    return verify(signerInfo.digest, signedBytes, publicKey, signerInfo.signature) ? 'ok' : 'bad-signature';
  } catch {
    return 'bad-signature'; // e.g. an EC signature presented against an RSA key
  }
}
