import { adminApi, mountVersionedSettingsRoutes, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { type WebClipSettings, webClipSettingsSchema } from './settings.js';
import type { WebClipSettingsStore } from './storage/settings-store.js';

/** Admin API under /api/web-clip: the settings new enrollments get. */
export function mountWebClipRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: { settings: WebClipSettingsStore; portalUrl: () => string; settingsSaved?: () => Promise<void> },
): void {
  mountVersionedSettingsRoutes<WebClipSettings>(adminApi(router, ctx, { tags: ['policies'] }), ctx, {
    path: '/settings',
    store: deps.settings,
    schema: webClipSettingsSchema,
    scopeArea: 'policies',
    noun: 'the web clip settings',
    audit: { action: 'webClip.settings.update', targetType: 'web-clip-settings' },
    // Devices that got the profile by declaration get the new one with their next sync.
    onSaved: async () => deps.settingsSaved?.(),
    derived: {
      shape: {
        effectiveUrl: z
          .string()
          .describe('Where the icon opens on devices: `url`, or the company portal when it is null'),
      },
      of: (stored) => ({ effectiveUrl: stored.value.url ?? deps.portalUrl() }),
    },
  });
}
