import { createHash } from 'node:crypto';
import { build as buildPlist, type PlistValue } from 'plist';
import { SSO_EXTENSION_ID, type SsoPolicy } from './sso-policy.js';

export class PaddedValueError extends Error {
  constructor(readonly path: string) {
    super(`${path} starts or ends with whitespace`);
    this.name = 'PaddedValueError';
  }
}

export interface SsoProfile {
  /** PayloadIdentifier of the profile: what RemoveProfile names at unenrollment. */
  identifier: string;
  dict: Record<string, PlistValue>;
  /** XML plist bytes: the InstallProfile `Payload`. */
  bytes: Buffer;
}

/** A UUID derived from a name, so the same profile keeps the same PayloadUUIDs across builds. */
function stableUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

export const ssoProfileIdentifier = (base: string) => `${base}.sso`;

/**
 * The Configuration profile carrying Microsoft's Enterprise SSO plug-in (a com.apple.extensiblesso Redirect payload).
 * No TeamIdentifier: Apple's schema makes it macOS-only ("ignored elsewhere"), and these profiles go to iPhones and iPads.
 */
export function buildSsoProfile(
  policy: SsoPolicy,
  options: { identifierBase: string; organization: string },
): SsoProfile {
  const identifier = ssoProfileIdentifier(options.identifierBase);
  const payloadIdentifier = `${identifier}.extension`;
  const extensionData: Record<string, PlistValue> = {
    ...policy.additionalExtensionData,
    device_registration: '{{DEVICEREGISTRATION}}',
    browser_sso_interaction_enabled: policy.browserSsoInteractionEnabled ? 1 : 0,
    disable_explicit_app_prompt: policy.disableExplicitAppPrompt ? 1 : 0,
    AppPrefixAllowList: policy.appPrefixAllowList,
  };
  const dict: Record<string, PlistValue> = {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: identifier,
    PayloadUUID: stableUuid(identifier),
    PayloadDisplayName: 'Microsoft Enterprise SSO',
    PayloadDescription: 'Single sign-on and device registration with Microsoft Entra ID through Authenticator',
    PayloadOrganization: options.organization,
    PayloadContent: [
      {
        PayloadType: 'com.apple.extensiblesso',
        PayloadVersion: 1,
        PayloadIdentifier: payloadIdentifier,
        PayloadUUID: stableUuid(payloadIdentifier),
        PayloadDisplayName: 'Microsoft Enterprise SSO plug-in',
        ExtensionIdentifier: SSO_EXTENSION_ID,
        Type: 'Redirect',
        URLs: [...policy.urls],
        ExtensionData: extensionData,
      },
    ],
  };
  assertNoPaddedStrings(dict);
  return { identifier, dict, bytes: Buffer.from(buildPlist(dict), 'utf8') };
}

/** Refuses any key or string value with leading or trailing whitespace anywhere in the dictionary. */
export function assertNoPaddedStrings(value: unknown, path = ''): void {
  if (typeof value === 'string') {
    if (value !== value.trim()) throw new PaddedValueError(path || '(root)');
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) assertNoPaddedStrings(item, `${path}[${i}]`);
    return;
  }
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof Date)) {
    for (const [key, item] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      if (key !== key.trim()) throw new PaddedValueError(`${at} (key)`);
      assertNoPaddedStrings(item, at);
    }
  }
}
