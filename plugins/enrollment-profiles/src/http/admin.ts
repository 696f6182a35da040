import { ProblemError } from 'enrollment-gateway/sdk';
import type Koa from 'koa';

/**
 * The version a write expects, from If-Match ("3", W/"3") or the body's `version`. Required:
 * an edit without one could silently overwrite someone else's (428 Precondition Required).
 */
export function expectedVersion(
  koa: Koa.Context,
  bodyVersion: number | undefined,
  required = true,
): number | undefined {
  const header = koa.get('if-match');
  if (header) {
    const match = /^(?:W\/)?"?(\d{1,15})"?$/.exec(header.trim());
    if (!match) throw new ProblemError(412, 'Precondition failed', 'If-Match must be the version from the ETag');
    const fromHeader = Number(match[1]);
    if (bodyVersion !== undefined && bodyVersion !== fromHeader) {
      throw new ProblemError(400, 'Invalid request', 'If-Match and body version disagree');
    }
    return fromHeader;
  }
  if (bodyVersion !== undefined) return bodyVersion;
  if (!required) return undefined;
  throw new ProblemError(428, 'Precondition required', 'send the version you read, as If-Match or in the body');
}

export const etag = (version: number) => `"${version}"`;

export const ifMatchHeader = {
  'If-Match': { description: 'The ETag (version) you read; a stale one answers 409. Or send `version`.' },
};
