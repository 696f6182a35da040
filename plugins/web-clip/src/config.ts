import { reverseDnsIdentifier } from 'enrollment-gateway/sdk';
import { z } from 'zod';

export const webClipConfigSchema = z.object({
  label: z.string().trim().min(1).max(40).default('Company Portal').describe('Name under the Home Screen icon'),
  url: z
    .url({ protocol: /^https$/ })
    .optional()
    .describe("Where the icon opens; defaults to the company portal's URL"),
  iconFile: z
    .string()
    .min(1)
    .optional()
    .describe("PNG file for the icon (square, at most 400 × 400); defaults to the portal's icon in the brand colour"),
  isRemovable: z.boolean().default(true).describe('Whether the user may delete the icon from the Home Screen'),
  fullScreen: z
    .boolean()
    .default(false)
    .describe('Open as a full-screen web app (it then has its own cookies, so users sign in there once)'),
  profileIdentifier: z
    .string()
    .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/)
    .optional()
    .describe('PayloadIdentifier of the web clip profile; defaults to one derived from publicUrl'),
  organizationName: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe('Deprecated: set organizationName at the top level (one name for every plugin); overrides it here'),
});

export type WebClipConfig = z.output<typeof webClipConfigSchema>;

/** "https://mdm.example.com" → "com.example.mdm.webclip"; an IP address → "local.ip-10-0-0-5.webclip". */
export function defaultWebClipIdentifier(publicUrl: string): string {
  return reverseDnsIdentifier(publicUrl, 'webclip');
}
