import { type StoredSettings, VersionedSettingsStore } from 'enrollment-gateway/sdk';
import type { Connection } from 'mongoose';
import { type WebClipSettings, webClipSettingsSchema } from '../settings.js';

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
