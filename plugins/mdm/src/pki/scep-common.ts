/** SCEP (RFC 8894) vocabulary shared by the CA side and the client side. */
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { primitiveBytes, readText } from './asn1-guard.js';
import { type ParsedSignerInfo, signedAttribute, singleAttributeValue } from './cms-signed-data.js';
import { octetString, printableString } from './der.js';
import { PkiFormatError, type ScepFailInfo } from './errors.js';
import { Oid } from './oids.js';

/** messageType values (§3.2.1.2). CertPoll was called GetCertInitial before RFC 8894. */
export const ScepMessageType = {
  CertRep: 3,
  RenewalReq: 17,
  PKCSReq: 19,
  CertPoll: 20,
  GetCert: 21,
  GetCRL: 22,
} as const;
export type ScepMessageTypeName = keyof typeof ScepMessageType;

export const ScepPkiStatus = { SUCCESS: 0, FAILURE: 2, PENDING: 3 } as const;

export const ScepFailInfoCode: Record<ScepFailInfo, number> = {
  badAlg: 0,
  badMessageCheck: 1,
  badRequest: 2,
  badTime: 3,
  badCertId: 4,
};

const messageTypeNameByCode = new Map<number, ScepMessageTypeName>(
  Object.entries(ScepMessageType).map(([name, code]) => [code, name as ScepMessageTypeName]),
);
const failInfoByCode = new Map<number, ScepFailInfo>(
  Object.entries(ScepFailInfoCode).map(([name, code]) => [code, name as ScepFailInfo]),
);

export const newNonce = (): Buffer => randomBytes(16);

/** SCEP attributes are PrintableStrings of decimal numbers or identifiers, nonces are OCTET STRINGs. */
export function scepAttributes(fields: {
  transactionId: string;
  messageType: number;
  senderNonce: Buffer;
  pkiStatus?: number;
  failInfo?: ScepFailInfo;
  recipientNonce?: Buffer;
}): Buffer[] {
  const attributes = [
    signedAttribute(Oid.scepTransactionId, printableString(fields.transactionId)),
    signedAttribute(Oid.scepMessageType, printableString(String(fields.messageType))),
    signedAttribute(Oid.scepSenderNonce, octetString(fields.senderNonce)),
  ];
  if (fields.pkiStatus !== undefined)
    attributes.push(signedAttribute(Oid.scepPkiStatus, printableString(String(fields.pkiStatus))));
  if (fields.failInfo !== undefined) {
    attributes.push(signedAttribute(Oid.scepFailInfo, printableString(String(ScepFailInfoCode[fields.failInfo]))));
  }
  if (fields.recipientNonce)
    attributes.push(signedAttribute(Oid.scepRecipientNonce, octetString(fields.recipientNonce)));
  return attributes;
}

export interface ScepHeader {
  transactionId: string;
  messageTypeCode: number;
  messageType?: ScepMessageTypeName;
  senderNonce?: Buffer;
  recipientNonce?: Buffer;
  pkiStatus?: number;
  failInfo?: ScepFailInfo;
}

export function readScepHeader(signerInfo: ParsedSignerInfo): ScepHeader {
  const transactionNode = singleAttributeValue(signerInfo, Oid.scepTransactionId);
  const typeNode = singleAttributeValue(signerInfo, Oid.scepMessageType);
  if (!transactionNode || !typeNode)
    throw new PkiFormatError('malformed', 'SCEP message lacks transactionID or messageType');
  const transactionId = readText(transactionNode, 'transactionID');
  if (transactionId.length === 0 || transactionId.length > 256)
    throw new PkiFormatError('malformed', 'transactionID length out of range');
  const messageTypeCode = readDecimal(readText(typeNode, 'messageType'), 'messageType');
  const senderNonce = readNonce(signerInfo, Oid.scepSenderNonce);
  const recipientNonce = readNonce(signerInfo, Oid.scepRecipientNonce);
  const statusNode = singleAttributeValue(signerInfo, Oid.scepPkiStatus);
  const failNode = singleAttributeValue(signerInfo, Oid.scepFailInfo);
  const failCode = failNode ? readDecimal(readText(failNode, 'failInfo'), 'failInfo') : undefined;
  return {
    transactionId,
    messageTypeCode,
    messageType: messageTypeNameByCode.get(messageTypeCode),
    senderNonce,
    recipientNonce,
    pkiStatus: statusNode ? readDecimal(readText(statusNode, 'pkiStatus'), 'pkiStatus') : undefined,
    failInfo: failCode === undefined ? undefined : (failInfoByCode.get(failCode) ?? 'badRequest'),
  };
}

function readNonce(signerInfo: ParsedSignerInfo, type: string): Buffer | undefined {
  const node = singleAttributeValue(signerInfo, type);
  if (!node) return undefined;
  const nonce = primitiveBytes(node, forge.asn1.Type.OCTETSTRING, 'nonce');
  if (nonce.length !== 16) throw new PkiFormatError('malformed', 'SCEP nonces are 16 octets');
  return nonce;
}

function readDecimal(text: string, what: string): number {
  if (!/^\d{1,3}$/.test(text)) throw new PkiFormatError('malformed', `${what} "${text}" is not a small decimal`);
  return Number(text);
}
