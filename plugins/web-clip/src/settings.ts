import { z } from 'zod';
import type { WebClipConfig } from './config.js';

/** What an admin may change at run time; the icon, identifier and organisation stay deployment settings. */
export const webClipSettingsSchema = z.strictObject({
  label: z
    .string()
    .trim()
    .min(1, 'enter the name shown under the icon')
    .max(40, 'at most 40 characters: iOS cuts longer names off')
    .describe('Name under the Home Screen icon'),
  url: z
    .url({ protocol: /^https$/, error: 'must be an https URL' })
    .max(2048)
    .nullable()
    .default(null)
    .describe("Where the icon opens; null (or left out) for the company portal's URL"),
  isRemovable: z.boolean().describe('Whether the user may delete the icon from the Home Screen'),
  fullScreen: z
    .boolean()
    .describe('Open as a full-screen web app (it keeps its own cookies, so users sign in there once more)'),
});

export type WebClipSettings = z.output<typeof webClipSettingsSchema>;

export function defaultWebClipSettings(config: WebClipConfig): WebClipSettings {
  return webClipSettingsSchema.parse({
    label: config.label,
    url: config.url ?? null,
    isRemovable: config.isRemovable,
    fullScreen: config.fullScreen,
  });
}
