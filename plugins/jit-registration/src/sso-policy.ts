import { z } from 'zod';
import type { JitConfig } from './config.js';

export const AUTHENTICATOR_STORE_ID = 983156458;
export const AUTHENTICATOR_BUNDLE_ID = 'com.azure.authenticator';
export const SSO_EXTENSION_ID = 'com.microsoft.azureauthenticator.ssoextension';

/** Sign-in hosts of Microsoft's global cloud the Enterprise SSO plug-in must handle. */
export const GLOBAL_CLOUD_URLS = [
  'https://login.microsoftonline.com',
  'https://login.microsoft.com',
  'https://sts.windows.net',
] as const;

/** National clouds: Microsoft Entra operated by 21Vianet (China) and the US Government clouds. */
export const NATIONAL_CLOUD_URLS = [
  'https://login.partner.microsoftonline.cn',
  'https://login.chinacloudapi.cn',
  'https://login.microsoftonline.us',
  'https://login.usgovcloudapi.net',
  'https://login-us.microsoftonline.com',
] as const;

/** iOS compares these strings byte for byte: a stray space silently breaks SSO, so it is refused instead. */
const unpadded = (what: string) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(512, 'at most 512 characters')
    .refine((s) => s === s.trim(), `${what} must not start or end with whitespace`);

const httpsUrl = unpadded('URL').refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}, 'must be an https URL');

const bundlePrefix = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$/;
const prefixList = unpadded('AppPrefixAllowList').refine(
  (list) => list.split(',').every((prefix) => bundlePrefix.test(prefix)),
  'must be comma-separated bundle-id prefixes without spaces, e.g. "com.apple.,com.contoso."',
);

const extensionKey = unpadded('key').refine((k) => /^[A-Za-z0-9_]+$/.test(k), 'keys are letters, digits and "_"');
const extensionValue = z.union([unpadded('value'), z.number().finite(), z.boolean()]);

/** Keys the plugin sets itself; an admin may not override them through additionalExtensionData. */
const RESERVED_EXTENSION_KEYS = new Set([
  'device_registration',
  'browser_sso_interaction_enabled',
  'disable_explicit_app_prompt',
  'AppPrefixAllowList',
]);

export const ssoPolicySchema = z.strictObject({
  urls: z
    .array(httpsUrl)
    .min(1, 'add at least one https URL')
    .max(50, 'at most 50 URLs')
    .refine((urls) => new Set(urls).size === urls.length, 'URLs must be unique'),
  appPrefixAllowList: prefixList,
  browserSsoInteractionEnabled: z.boolean(),
  disableExplicitAppPrompt: z.boolean(),
  additionalExtensionData: z
    .record(extensionKey, extensionValue)
    .refine((data) => Object.keys(data).every((k) => !RESERVED_EXTENSION_KEYS.has(k)), 'reserved key')
    .default({}),
});

export type SsoPolicy = z.output<typeof ssoPolicySchema>;

export function defaultSsoPolicy(config: JitConfig): SsoPolicy {
  return ssoPolicySchema.parse({
    urls: [...GLOBAL_CLOUD_URLS, ...(config.nationalClouds ? NATIONAL_CLOUD_URLS : [])],
    appPrefixAllowList: config.appPrefixAllowList,
    browserSsoInteractionEnabled: true,
    disableExplicitAppPrompt: true,
    additionalExtensionData: {},
  });
}
