import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Pure: the token in a legacy declaration's ProfileURL (`/ddm/profiles/<token>`). It names the device, its
 * enrollment, the profile's declaration identifier and the digest of the profile's bytes, and carries an HMAC over
 * them, so the same profile for the same enrollment always gives the same URL (and ServerToken), a changed profile a
 * new one, and nobody without the key can make one. Form: base64url(JSON claims) "." base64url(HMAC-SHA256).
 */
export interface ProfileClaims {
  deviceId: string;
  enrollmentId: string;
  identifier: string;
  /** profileDigest of the bytes the declaration announced. */
  digest: string;
}

/** Longest token accepted: ids and identifier are bounded, so anything longer is not ours. */
export const MAX_TOKEN_LENGTH = 1024;
const DOMAIN = 'gateway.ddm.legacy-profile.v1';

/** SHA-256 of the profile bytes, base64url (43 characters). */
export function profileDigest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('base64url');
}

function mac(key: Buffer, claims: ProfileClaims): Buffer {
  const fields = [DOMAIN, claims.deviceId, claims.enrollmentId, claims.identifier, claims.digest];
  return createHmac('sha256', key).update(fields.join('\u0000')).digest();
}

export function profileToken(key: Buffer, claims: ProfileClaims): string {
  const body = Buffer.from(
    JSON.stringify([claims.deviceId, claims.enrollmentId, claims.identifier, claims.digest]),
  ).toString('base64url');
  return `${body}.${mac(key, claims).toString('base64url')}`;
}

const isClaimList = (v: unknown): v is [string, string, string, string] =>
  Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'string' && x.length <= 200);

/** The claims of a token made with `key`, or undefined for anything else (malformed, forged, another key). */
export function readProfileToken(key: Buffer, token: string): ProfileClaims | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isClaimList(parsed)) return undefined;
  const [deviceId, enrollmentId, identifier, digest] = parsed;
  const claims = { deviceId, enrollmentId, identifier, digest };
  const given = Buffer.from(match[2], 'base64url');
  const expected = mac(key, claims);
  return given.length === expected.length && timingSafeEqual(given, expected) ? claims : undefined;
}
