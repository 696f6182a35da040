/**
 * Bounded ASN.1 reading on top of forge. Untrusted bytes (Mdm-Signature headers, SCEP bodies) are size-checked
 * before forge sees them, parsed with a tight recursion limit, and every shape assumption goes through the
 * helpers below so a surprise becomes a PkiFormatError instead of a TypeError deep in forge.
 */
import forge from 'node-forge';
import { PkiFormatError } from './errors.js';

export type Asn1 = forge.asn1.Asn1;

/** Largest CMS blob we accept from a client. Real Mdm-Signature headers are ~2-3 KiB, SCEP requests ~3-5 KiB. */
export const MAX_UNTRUSTED_DER_BYTES = 64 * 1024;
/**
 * Deepest legitimate nesting we meet is a certificate inside SignedData (~12 levels, counting the RSA key forge
 * decodes out of the BIT STRING). 32 leaves headroom while keeping forge's recursion shallow.
 */
export const MAX_ASN1_DEPTH = 32;

interface ForgeDerOptions {
  strict: boolean;
  parseAllBytes: boolean;
  decodeBitStrings: boolean;
  maxDepth: number;
}
const fromDer = forge.asn1.fromDer as unknown as (bytes: forge.util.ByteStringBuffer, options: ForgeDerOptions) => Asn1;

export interface ParseLimits {
  maxBytes?: number;
  maxDepth?: number;
  /** forge needs this to read RSA keys inside certificates / CSRs; leave off for CMS envelopes. */
  decodeBitStrings?: boolean;
}

export function parseDer(input: Buffer, limits: ParseLimits = {}): Asn1 {
  const maxBytes = limits.maxBytes ?? MAX_UNTRUSTED_DER_BYTES;
  if (input.length > maxBytes)
    throw new PkiFormatError('too-large', `ASN.1 input of ${input.length} bytes exceeds ${maxBytes}`);
  if (input.length < 2) throw new PkiFormatError('malformed', 'ASN.1 input is empty');
  try {
    return fromDer(forge.util.createBuffer(input.toString('binary')), {
      strict: true,
      parseAllBytes: true,
      decodeBitStrings: limits.decodeBitStrings ?? false,
      maxDepth: limits.maxDepth ?? MAX_ASN1_DEPTH,
    });
  } catch (error) {
    throw new PkiFormatError('malformed', `not valid DER: ${(error as Error).message}`, { cause: error });
  }
}

export function toDer(node: Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
}

export function malformed(message: string): never {
  throw new PkiFormatError('malformed', message);
}

const { Class, Type } = forge.asn1;

function describe(node: Asn1 | undefined): string {
  return node ? `class ${node.tagClass} type ${node.type}` : 'nothing';
}

/** Children of a constructed node, after checking its universal type. */
export function children(node: Asn1 | undefined, type: number, what: string): Asn1[] {
  if (!node || node.tagClass !== Class.UNIVERSAL || node.type !== type || !Array.isArray(node.value)) {
    malformed(`${what}: expected universal ${type}, got ${describe(node)}`);
  }
  return node.value as Asn1[];
}

export const sequenceOf = (node: Asn1 | undefined, what: string): Asn1[] => children(node, Type.SEQUENCE, what);
export const setItems = (node: Asn1 | undefined, what: string): Asn1[] => children(node, Type.SET, what);

/** Raw bytes of a primitive node of the given universal type. */
export function primitiveBytes(node: Asn1 | undefined, type: number, what: string): Buffer {
  if (!node || node.tagClass !== Class.UNIVERSAL || node.type !== type || typeof node.value !== 'string') {
    malformed(`${what}: expected primitive universal ${type}, got ${describe(node)}`);
  }
  return Buffer.from(node.value as string, 'binary');
}

export function readOid(node: Asn1 | undefined, what: string): string {
  const bytes = primitiveBytes(node, Type.OID, what);
  try {
    return forge.asn1.derToOid(bytes.toString('binary'));
  } catch (error) {
    throw new PkiFormatError('malformed', `${what}: bad OID`, { cause: error });
  }
}

export function readSmallInteger(node: Asn1 | undefined, what: string): number {
  const bytes = primitiveBytes(node, Type.INTEGER, what);
  if (bytes.length === 0 || bytes.length > 4) malformed(`${what}: integer out of range`);
  return bytes.readIntBE(0, bytes.length);
}

/** OCTET STRING content, joining BER constructed segments (some SCEP clients chunk eContent). */
export function readOctetString(node: Asn1 | undefined, what: string, depth = 0): Buffer {
  if (!node || node.tagClass !== Class.UNIVERSAL || node.type !== Type.OCTETSTRING) {
    malformed(`${what}: expected OCTET STRING, got ${describe(node)}`);
  }
  return readStringSegments(node, what, depth);
}

/** Value of a possibly-constructed string node regardless of its tag (for IMPLICIT-tagged OCTET STRINGs). */
export function readStringSegments(node: Asn1, what: string, depth = 0): Buffer {
  if (typeof node.value === 'string') return Buffer.from(node.value, 'binary');
  if (depth > 2) malformed(`${what}: constructed string nested too deep`);
  return Buffer.concat((node.value as Asn1[]).map((segment) => readOctetString(segment, what, depth + 1)));
}

/** Text of a DirectoryString-ish value (PrintableString, UTF8String, IA5String, BMPString, TeletexString). */
export function readText(node: Asn1 | undefined, what: string): string {
  if (!node || node.tagClass !== Class.UNIVERSAL || typeof node.value !== 'string') {
    malformed(`${what}: expected a string, got ${describe(node)}`);
  }
  switch (node.type as number) {
    case Type.UTF8:
      return Buffer.from(node.value as string, 'binary').toString('utf8');
    case Type.BMPSTRING: // forge already decoded UCS-2 into a JS string
      return node.value as string;
    case Type.PRINTABLESTRING:
    case Type.IA5STRING:
    case 20: // TeletexString, treated as Latin-1 like everyone else does
      return Buffer.from(node.value as string, 'binary').toString('latin1');
    default:
      return malformed(`${what}: unsupported string type ${node.type}`);
  }
}

export function readTime(node: Asn1 | undefined, what: string): Date {
  if (!node || node.tagClass !== Class.UNIVERSAL || typeof node.value !== 'string')
    malformed(`${what}: expected a time`);
  const date =
    node.type === Type.UTCTIME
      ? forge.asn1.utcTimeToDate(node.value as string)
      : node.type === Type.GENERALIZEDTIME
        ? forge.asn1.generalizedTimeToDate(node.value as string)
        : undefined;
  if (!date || Number.isNaN(date.getTime())) malformed(`${what}: bad time value`);
  return date as Date;
}

export function isContext(node: Asn1 | undefined, tag: number): node is Asn1 {
  return !!node && node.tagClass === Class.CONTEXT_SPECIFIC && node.type === tag;
}

/** Re-tag an [0] IMPLICIT SET OF as a universal SET — what CMS signs for signed attributes (RFC 5652 §5.4). */
export function asUniversalSet(node: Asn1): Buffer {
  const der = toDer(node);
  der[0] = 0x31;
  return der;
}
