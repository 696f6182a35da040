import { type StoredSettings, VersionedSettingsStore } from 'enrollment-gateway/sdk';
import type { Connection } from 'mongoose';
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

/**
 * The admin-edited web clip settings: one versioned document in MongoDB, read on every enrollment so every
 * replica uses the latest save. Until an admin saves, the config's values apply (version 0).
 */
export function webClipSettingsStore(connection: Connection, defaults: () => WebClipSettings): WebClipSettingsStore {
  return new VersionedSettingsStore<WebClipSettings>({
    connection,
    collection: 'web_clip_settings',
    schema: webClipSettingsSchema,
    defaults,
    staleDetail: 'the web clip settings changed since you read them; reload and try again',
  });
}

export type WebClipSettingsStore = VersionedSettingsStore<WebClipSettings>;
export type StoredWebClipSettings = StoredSettings<WebClipSettings>;
