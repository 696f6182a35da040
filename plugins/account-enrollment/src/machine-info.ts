import { createHash } from 'node:crypto';
import type { DevicePlatform } from 'enrollment-gateway/sdk';
import forge from 'node-forge';
import { parse as parsePlist } from 'plist';
import { z } from 'zod';

/**
 * The MachineInfo a device POSTs to BaseURL: a property list inside CMS SignedData, signed by the device's
 * Apple-issued identity (other/machineinfo.yaml in Apple's schemas). With User Enrollment UDID and SERIAL are
 * absent. The gateway reads it for the platform and OS version and binds tokens to its digest; it does not
 * authenticate the device (the access token does), so the signer chain is not checked against Apple's CA.
 */
export interface MachineInfo {
  product: string;
  version: string;
  osVersion?: string;
  udid?: string;
  serial?: string;
  language?: string;
  platform: DevicePlatform;
  /** SHA-256 of the identifying keys (not of the bytes, which a device may re-encode): tokens are bound to it. */
  digest: string;
}

export class MachineInfoError extends Error {
  override readonly name = 'MachineInfoError';
}

export const MAX_MACHINE_INFO_BYTES = 64 * 1024;
const SIGNED_DATA = '1.2.840.113549.1.7.2';
const text = z.string().min(1).max(256);
const schema = z.object({
  PRODUCT: text,
  VERSION: text,
  OS_VERSION: text.optional(),
  UDID: text.optional(),
  SERIAL: text.optional(),
  LANGUAGE: text.optional(),
});

type Asn1 = forge.asn1.Asn1;
const children = (node: Asn1 | undefined): Asn1[] => (Array.isArray(node?.value) ? (node.value as Asn1[]) : []);

/** The bytes of an OCTET STRING, primitive or constructed (BER). */
function octets(node: Asn1 | undefined): string {
  if (!node) throw new MachineInfoError('SignedData has no content');
  if (typeof node.value === 'string') return node.value;
  return children(node).map(octets).join('');
}

/** The encapsulated content of a DER/BER ContentInfo(SignedData). */
function signedContent(body: Buffer): Buffer {
  let root: Asn1;
  const input = forge.util.createBuffer(body.toString('binary'));
  try {
    root = forge.asn1.fromDer(input, true);
  } catch (error) {
    throw new MachineInfoError(`not a CMS message: ${(error as Error).message}`);
  }
  if (input.length() !== 0) throw new MachineInfoError('not a CMS message: bytes after the end');
  const [type, explicit] = children(root);
  if (typeof type?.value !== 'string' || forge.asn1.derToOid(type.value) !== SIGNED_DATA)
    throw new MachineInfoError('not a CMS SignedData');
  const signedData = children(explicit)[0];
  const encapsulated = children(signedData)[2];
  const content = children(children(encapsulated)[1])[0];
  return Buffer.from(octets(content), 'binary');
}

export function platformOf(product: string): DevicePlatform {
  if (/^(iPhone|iPod)/.test(product)) return 'iOS';
  if (/^iPad/.test(product)) return 'iPadOS';
  if (/^Mac/.test(product)) return 'macOS';
  return 'unknown';
}

export function parseMachineInfo(body: Buffer): MachineInfo {
  if (body.length === 0) throw new MachineInfoError('empty body: the machine info is required');
  if (body.length > MAX_MACHINE_INFO_BYTES) throw new MachineInfoError('machine info too large');
  const plistBytes = signedContent(body);
  const xml = plistBytes.toString('utf8');
  // The plist parser expands nothing, but a document type with entities is never what a device sends.
  if (/<!ENTITY/i.test(xml)) throw new MachineInfoError('machine info must not declare entities');
  let parsed: unknown;
  try {
    parsed = parsePlist(xml);
  } catch (error) {
    throw new MachineInfoError(`machine info is not a property list: ${(error as Error).message}`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new MachineInfoError(`invalid machine info: ${first?.path.join('.') || 'root'}: ${first?.message}`);
  }
  const m = result.data;
  return {
    product: m.PRODUCT,
    version: m.VERSION,
    osVersion: m.OS_VERSION,
    udid: m.UDID,
    serial: m.SERIAL,
    language: m.LANGUAGE,
    platform: platformOf(m.PRODUCT),
    digest: createHash('sha256')
      .update(JSON.stringify([m.PRODUCT, m.VERSION, m.OS_VERSION, m.UDID, m.SERIAL]))
      .digest('base64url'),
  };
}
