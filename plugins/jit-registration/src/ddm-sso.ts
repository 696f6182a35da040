/**
 * The SSO profile by declaration (docs/jit-registration.md): on a device that takes declarations the profile is a
 * legacy declaration the ddm plugin serves, and its install step follows what the device reports about that
 * declaration in the status item `management.declarations` instead of an InstallProfile answer.
 */
export const SSO_DECLARATION_IDENTIFIER = 'jit-registration.sso-profile';
export const DECLARATIONS_STATUS_ITEM = 'management.declarations';

const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What `management.declarations` says about one configuration: 'done' when it is valid and active, 'failed' with
 * the device's reason when invalid, undefined while the device has not judged it (or does not list it).
 */
export function declarationOutcome(
  value: unknown,
  identifier: string,
): { state: 'done' | 'failed'; detail: string } | undefined {
  const configurations = isDict(value) && Array.isArray(value.configurations) ? value.configurations : [];
  const entry = configurations.find((c): c is Record<string, unknown> => isDict(c) && c.identifier === identifier);
  if (!entry || entry._removed === true) return undefined;
  if (entry.valid === 'valid' && entry.active === true) return { state: 'done', detail: 'installed by declaration' };
  if (entry.valid !== 'invalid') return undefined;
  const reasons = Array.isArray(entry.reasons) ? entry.reasons.filter(isDict) : [];
  const first = reasons[0];
  const why = first ? [first.code, first.description].filter((x) => typeof x === 'string').join(': ') : '';
  return { state: 'failed', detail: `device refused the declaration${why ? ` (${why})` : ''}` };
}
