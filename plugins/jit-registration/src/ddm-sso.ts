/**
 * The SSO profile by declaration (docs/jit-registration.md): on a device that takes declarations the profile is a
 * legacy declaration the ddm plugin serves, and its install step follows what the device reports about that
 * declaration in the status item `management.declarations` (the SDK's declarationOutcome) instead of an
 * InstallProfile answer.
 */
export const SSO_DECLARATION_IDENTIFIER = 'jit-registration.sso-profile';
