import { IdentityRefusedError, type VerifiedIdentity } from 'enrollment-gateway/sdk';
import type { OidcConfig } from './config.js';

export type Claims = Readonly<Record<string, unknown>>;

/** The value at a claim name or dotted path ("realm_access.roles"); a literal dotted name wins (Auth0 namespaces). */
export function claimAt(claims: Claims, path: string): unknown {
  if (path in claims) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A list claim: an array of strings, or one string (some providers send a single group that way). */
function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return undefined;
  return value.filter((item): item is string => typeof item === 'string');
}

const text = (value: unknown) => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** Who the validated claims say signed in: subject, names, groups and roles from the configured claims. */
export function identityFromClaims(
  claims: Claims,
  config: Pick<OidcConfig, 'usernameClaim' | 'groupsClaim' | 'rolesClaim'>,
  options: { requireGroups: boolean },
): VerifiedIdentity {
  const subject = text(claims.sub);
  if (!subject) throw new IdentityRefusedError('invalid_token', 'token has no sub claim');
  const groups = stringList(claimAt(claims, config.groupsClaim));
  if (!groups && options.requireGroups) {
    throw new IdentityRefusedError('missing_groups', `token has no "${config.groupsClaim}" claim`, subject);
  }
  const username = text(claimAt(claims, config.usernameClaim)) ?? text(claims.email) ?? subject;
  return {
    subject,
    username,
    displayName: text(claims.name) ?? username,
    groups: groups ?? [],
    roles: stringList(claimAt(claims, config.rolesClaim)) ?? [],
  };
}
