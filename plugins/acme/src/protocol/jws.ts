/** RFC 8555 §6.2-6.4: flattened JWS requests, checked with jose. Pure: key lookup and nonces are the caller's. */
import { calculateJwkThumbprint, flattenedVerify, importJWK, type JWK } from 'jose';
import { z } from 'zod';
import { AcmeProblem, JWS_ALGORITHMS } from './problems.js';

const flattenedJws = z.object({
  protected: z.string().min(1),
  payload: z.string(),
  signature: z.string(),
});

const protectedHeader = z.object({
  alg: z.string(),
  nonce: z.string().min(1).optional(),
  url: z.string().min(1).optional(),
  jwk: z.record(z.string(), z.unknown()).optional(),
  kid: z.string().min(1).optional(),
});

export interface AcmeJwsHeader {
  alg: string;
  nonce: string;
  url: string;
  jwk?: JWK;
  kid?: string;
}

export interface ParsedJws {
  jws: z.infer<typeof flattenedJws>;
  header: AcmeJwsHeader;
}

function decodeJson(part: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AcmeProblem('malformed', `${what} is not base64url JSON`);
  }
}

/** Reads the request body and its protected header; nothing is verified yet. */
export function parseJws(body: unknown, requestUrl: string): ParsedJws {
  const jws = flattenedJws.safeParse(body);
  if (!jws.success) throw new AcmeProblem('malformed', 'the request body must be a flattened JWS');
  const header = protectedHeader.safeParse(decodeJson(jws.data.protected, 'the protected header'));
  if (!header.success) throw new AcmeProblem('malformed', 'the protected header is invalid');
  const { alg, nonce, url, jwk, kid } = header.data;
  if (!(JWS_ALGORITHMS as readonly string[]).includes(alg))
    throw new AcmeProblem('badSignatureAlgorithm', `JWS algorithm "${alg}" is not accepted`);
  if (!nonce) throw new AcmeProblem('badNonce', 'the protected header carries no nonce');
  if (url !== requestUrl) throw new AcmeProblem('unauthorized', 'the protected header "url" is not this URL');
  if ((jwk === undefined) === (kid === undefined))
    throw new AcmeProblem('malformed', 'the protected header must carry exactly one of "jwk" and "kid"');
  return { jws: jws.data, header: { alg, nonce, url, jwk: jwk as JWK | undefined, kid } };
}

/** Verifies the signature with `jwk` (the header's own, or the account's) and returns the payload bytes. */
export async function verifyJws(parsed: ParsedJws, jwk: JWK): Promise<Buffer> {
  if (jwk.d !== undefined || jwk.kty === 'oct')
    throw new AcmeProblem('malformed', 'the account key must be a public asymmetric key');
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK(jwk, parsed.header.alg);
  } catch {
    throw new AcmeProblem('badSignatureAlgorithm', 'the key does not fit the JWS algorithm');
  }
  try {
    const { payload } = await flattenedVerify(parsed.jws, key, { algorithms: [parsed.header.alg] });
    return Buffer.from(payload);
  } catch {
    throw new AcmeProblem('unauthorized', 'the JWS signature does not verify with the account key');
  }
}

/** The payload as JSON; an empty payload is a POST-as-GET (undefined). */
export function payloadJson(payload: Buffer): unknown {
  if (payload.length === 0) return undefined;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new AcmeProblem('malformed', 'the JWS payload is not JSON');
  }
}

export const jwkThumbprint = (jwk: JWK): Promise<string> => calculateJwkThumbprint(jwk, 'sha256');
