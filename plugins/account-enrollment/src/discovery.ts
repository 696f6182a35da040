import { ProblemError } from 'enrollment-gateway/sdk';
import { type AccountEnrollmentConfig, BASE_PATH, MODES } from './config.js';

/** Apple's service discovery document (WellKnown): one server per enrollment mode, with its BaseURL. */
export interface DiscoveryDocument {
  Servers: { Version: string; BaseURL: string }[];
}

export function discoveryDocument(publicUrl: string): DiscoveryDocument {
  return {
    Servers: Object.entries(MODES).map(([name, mode]) => ({
      Version: mode.version,
      BaseURL: `${publicUrl}${BASE_PATH}/${name}`,
    })),
  };
}

/** The domain of a user identifier ("user@domain", split at the last "@", as the device does), lower-cased. */
export function domainOf(userIdentifier: string): string | undefined {
  const at = userIdentifier.lastIndexOf('@');
  if (at <= 0 || at === userIdentifier.length - 1) return undefined;
  return userIdentifier.slice(at + 1).toLowerCase();
}

/**
 * Refuses discovery for an account the organisation does not own: 404, which Settings reports as "no enrollment
 * service found". Without a user-identifier (a manual check) the document is served as is.
 */
export function checkDiscoveryAccount(config: AccountEnrollmentConfig, userIdentifier: unknown): void {
  if (userIdentifier === undefined) return;
  if (typeof userIdentifier !== 'string' || userIdentifier.length > 320)
    throw new ProblemError(400, 'Bad request', 'user-identifier must be one user@domain');
  const domain = domainOf(userIdentifier);
  if (!domain) throw new ProblemError(400, 'Bad request', 'user-identifier must have the form user@domain');
  if (!config.domains.includes(domain))
    throw new ProblemError(404, 'Not found', `this gateway does not enroll accounts of ${domain}`);
}
