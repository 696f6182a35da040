/**
 * A minimal DER *writer*. Building CMS structures byte-for-byte lets us embed certificate DER verbatim (no
 * re-encoding round trip through forge) and sort SET OF members as DER requires — forge's pkcs7 writer does
 * not sort signed attributes, which makes OpenSSL reject the signature. Parsing stays with forge (asn1-guard.ts).
 */
import forge from 'node-forge';

export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV; `contents` are concatenated as the value. */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const value = contents.length === 1 ? contents[0] : Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(Tag.SEQUENCE, ...items);

/** SET OF in DER: members sorted by their encodings (X.690 §11.6). */
export function setOf(...items: Buffer[]): Buffer {
  return tlv(Tag.SET, ...[...items].sort(Buffer.compare));
}

/** [n] EXPLICIT (constructed context tag wrapping complete TLVs). */
export const explicit = (n: number, ...items: Buffer[]): Buffer => tlv(0xa0 | n, ...items);

/** [n] IMPLICIT over a primitive value. */
export const implicitPrimitive = (n: number, value: Buffer): Buffer => tlv(0x80 | n, value);

/** [n] IMPLICIT over a constructed value (e.g. SET OF → [0]). */
export const implicitConstructed = (n: number, ...items: Buffer[]): Buffer => tlv(0xa0 | n, ...items);

const oidCache = new Map<string, Buffer>();
export function oid(dotted: string): Buffer {
  let encoded = oidCache.get(dotted);
  if (!encoded) {
    encoded = tlv(Tag.OID, Buffer.from(forge.asn1.oidToDer(dotted).getBytes(), 'binary'));
    oidCache.set(dotted, encoded);
  }
  return encoded;
}

/** INTEGER from an unsigned big-endian magnitude (adds the sign octet when needed, strips redundant zeros). */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return trimmed[0] & 0x80 ? tlv(Tag.INTEGER, Buffer.from([0]), trimmed) : tlv(Tag.INTEGER, trimmed);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw new RangeError(`bad INTEGER ${value}`);
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return unsignedInteger(Buffer.from(bytes));
}

export const octetString = (value: Buffer): Buffer => tlv(Tag.OCTET_STRING, value);
export const nullValue = (): Buffer => Buffer.from([Tag.NULL, 0]);
export const bitString = (value: Buffer): Buffer => tlv(Tag.BIT_STRING, Buffer.from([0]), value);
export const printableString = (value: string): Buffer => tlv(Tag.PRINTABLE_STRING, Buffer.from(value, 'latin1'));
export const utf8String = (value: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(value, 'utf8'));

/** RFC 5280 rule: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2025-01-02T03:04:05.678Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return date.getUTCFullYear() < 2050
    ? tlv(Tag.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'latin1'))
    : tlv(Tag.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'latin1'));
}

/** AlgorithmIdentifier; `parameters` undefined → NULL (RSA convention), null → absent (SHA-2 / ECDSA style). */
export function algorithmIdentifier(dotted: string, parameters?: Buffer | null): Buffer {
  if (parameters === null) return sequence(oid(dotted));
  return sequence(oid(dotted), parameters ?? nullValue());
}
