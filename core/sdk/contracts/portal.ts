import { createServiceRef } from '../refs.js';

/**
 * The device users' portal (the Company Portal website): where it lives and how it looks on a Home Screen.
 * Provided by the company-portal plugin; the web clip and the admin center read it.
 */
export interface CompanyPortal {
  /** The portal's start page: `<publicUrl>/`. */
  readonly url: string;
  /** The link admins share and conditional-access redirects land on: web enrollment right after sign-in. */
  readonly enrollmentLink: string;
  readonly organizationName: string;
  /** The Home Screen icon: a square PNG (180 × 180) in the organisation's colour. */
  homeScreenIcon(): Buffer;
}
export const companyPortalRef = createServiceRef<CompanyPortal>('portal');
