/**
 * device-attest-01 as Apple implements it (Managed Device Attestation; draft-acme-device-attest): the challenge answer
 * is `{ attObj }`, a base64url CBOR WebAuthn attestation object of format "apple" whose `attStmt.x5c` is the chain
 * leaf-first. The leaf certifies the key the device made for the identity, and carries Apple's OIDs: serial number,
 * UDID, OS versions, and the freshness code, SHA-256 of the challenge token.
 */
import { createHash, X509Certificate } from 'node:crypto';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { decode } from 'cbor-x';
import { AcmeProblem } from './problems.js';

export const APPLE_OID = {
  serialNumber: '1.2.840.113635.100.8.9.1',
  udid: '1.2.840.113635.100.8.9.2',
  softwareUpdateDeviceId: '1.2.840.113635.100.8.9.4',
  osVersion: '1.2.840.113635.100.8.10.1',
  sepOsVersion: '1.2.840.113635.100.8.10.2',
  llbVersion: '1.2.840.113635.100.8.10.3',
  freshnessCode: '1.2.840.113635.100.8.11.1',
} as const;

/** What the attestation proves. */
export interface AttestedDevice {
  serialNumber: string;
  udid: string;
  osVersion?: string;
  sepOsVersion?: string;
  /** DER SubjectPublicKeyInfo of the attested (hardware-bound) key. */
  publicKeySpki: Buffer;
}

const MAX_CHAIN = 5;

const refuse = (detail: string): never => {
  throw new AcmeProblem('badAttestationStatement', detail);
};

function asBytes(value: unknown): Buffer | undefined {
  return value instanceof Uint8Array ? Buffer.from(value) : undefined;
}

/** Decodes `attObj` (base64url CBOR) into its x5c chain; only the "apple" format is accepted. */
export function readAppleAttestation(attObj: string): Buffer[] {
  let object: unknown;
  try {
    object = decode(Buffer.from(attObj, 'base64url'));
  } catch {
    return refuse('attObj is not CBOR');
  }
  if (typeof object !== 'object' || object === null) return refuse('attObj is not a CBOR map');
  const { fmt, attStmt } = object as { fmt?: unknown; attStmt?: unknown };
  if (fmt !== 'apple') return refuse(`attestation format "${String(fmt)}" is not accepted (only "apple")`);
  const x5c = typeof attStmt === 'object' && attStmt !== null ? (attStmt as { x5c?: unknown }).x5c : undefined;
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN)
    return refuse('attStmt.x5c must be a certificate chain');
  return x5c.map((entry) => asBytes(entry) ?? refuse('attStmt.x5c entries must be byte strings'));
}

function parse(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    return refuse('attStmt.x5c holds something that is not a certificate');
  }
}

function validAt(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

/** Checks that the chain (leaf first) ends in one of `anchors`, each link signed by the next and valid now. */
export function verifyChain(chainDer: readonly Buffer[], anchors: readonly X509Certificate[], now = new Date()): void {
  const chain = chainDer.map(parse);
  for (const [index, cert] of chain.entries()) {
    if (!validAt(cert, now)) refuse('a certificate of the attestation chain is expired or not yet valid');
    const issuer = chain[index + 1];
    if (!issuer) break;
    if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey))
      refuse('the attestation chain is broken');
  }
  const top = chain[chain.length - 1];
  const anchored = anchors.some(
    (anchor) => top.raw.equals(anchor.raw) || (top.checkIssued(anchor) && top.verify(anchor.publicKey)),
  );
  if (!anchored) refuse('the attestation chain does not end in a trusted attestation root');
}

/** Apple writes the values raw in extnValue; a DER-wrapped UTF8String or OCTET STRING is unwrapped as well. */
function extensionValue(leaf: x509.X509Certificate, oid: string): Buffer | undefined {
  const ext = leaf.getExtension(oid);
  if (!ext) return undefined;
  const raw = Buffer.from(ext.value);
  const wrapped = (raw[0] === 0x0c || raw[0] === 0x04) && raw.length >= 2 && raw[1] < 0x80 && raw[1] === raw.length - 2;
  return wrapped ? raw.subarray(2) : raw;
}

/** What a DevicePropertiesAttestation leaf says; Apple leaves out what it could not verify (and UDID/serial for User Enrollment). */
export interface AttestedDeviceProperties {
  serialNumber?: string;
  udid?: string;
  osVersion?: string;
  sepOsVersion?: string;
  llbVersion?: string;
  softwareUpdateDeviceId?: string;
  /** The freshness code as the leaf carries it. */
  freshnessCode?: Buffer;
}

function parseLeaf(leafDer: Buffer): x509.X509Certificate {
  try {
    return new x509.X509Certificate(leafDer);
  } catch {
    return refuse('the attestation leaf is not a certificate');
  }
}

function leafProperties(leaf: x509.X509Certificate): AttestedDeviceProperties {
  const text = (oid: string) => extensionValue(leaf, oid)?.toString('utf8') || undefined;
  return {
    serialNumber: text(APPLE_OID.serialNumber),
    udid: text(APPLE_OID.udid),
    osVersion: text(APPLE_OID.osVersion),
    sepOsVersion: text(APPLE_OID.sepOsVersion),
    llbVersion: text(APPLE_OID.llbVersion),
    softwareUpdateDeviceId: text(APPLE_OID.softwareUpdateDeviceId),
    freshnessCode: extensionValue(leaf, APPLE_OID.freshnessCode),
  };
}

/** The properties a DeviceInformation attestation leaf carries (its chain is checked with verifyChain first). */
export function readAttestedProperties(leafDer: Buffer): AttestedDeviceProperties {
  return leafProperties(parseLeaf(leafDer));
}

/** Reads the attested properties from the leaf and checks its freshness code against the challenge token. */
export function readAttestedDevice(leafDer: Buffer, token: string): AttestedDevice {
  const leaf = parseLeaf(leafDer);
  const { freshnessCode, serialNumber, udid, osVersion, sepOsVersion } = leafProperties(leaf);
  const expected = createHash('sha256').update(token).digest();
  if (!freshnessCode?.equals(expected)) refuse('the attestation freshness code does not match this challenge');
  if (!serialNumber || !udid) return refuse('the attestation carries no serial number or UDID');
  return { serialNumber, udid, osVersion, sepOsVersion, publicKeySpki: Buffer.from(leaf.publicKey.rawData) };
}

/** Parses the configured trust anchors (one or more PEM certificates). */
export function parseAnchors(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}
