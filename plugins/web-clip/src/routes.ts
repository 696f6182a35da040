import type Router from '@koa/router';
import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  etag,
  etagHeader,
  expectedVersion,
  ifMatchHeader,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { type StoredWebClipSettings, type WebClipSettingsStore, webClipSettingsSchema } from './settings.js';

const settingsView = webClipSettingsSchema.extend({
  version: z.number().int().describe('0 while the config defaults apply; send it back (or If-Match) to save'),
  effectiveUrl: z.string().describe('Where the icon opens on devices: `url`, or the company portal when it is null'),
  updatedBy: z.string().nullable(),
  updatedAt: z.date().nullable(),
});

const settingsBody = webClipSettingsSchema.extend({
  version: z.number().int().min(0).optional().describe('The version you read (or send If-Match)'),
});

/** Admin API under /api/web-clip: the settings new enrollments get. */
export function mountWebClipRoutes(
  router: Router,
  ctx: PluginContext<unknown>,
  deps: { settings: WebClipSettingsStore; portalUrl: () => string },
): void {
  const api = adminApi(router, ctx, { tags: ['policies'] });
  const view = (stored: StoredWebClipSettings): z.output<typeof settingsView> => ({
    ...stored.value,
    version: stored.version,
    effectiveUrl: stored.value.url ?? deps.portalUrl(),
    updatedBy: stored.updatedBy ?? null,
    updatedAt: stored.updatedAt ?? null,
  });

  api.get(
    '/settings',
    {
      scope: 'policies:read',
      summary: 'The web clip settings devices get when they enroll',
      responses: { 200: { description: 'The settings', schema: settingsView, headers: etagHeader } },
    },
    async (koa) => {
      const stored = await deps.settings.current();
      koa.set('ETag', etag(stored.version));
      koa.body = view(stored);
    },
  );

  api.put(
    '/settings',
    {
      scope: 'policies:write',
      summary: 'Replace the web clip settings (devices enrolled later get them; needs the version you read)',
      headers: ifMatchHeader,
      body: settingsBody,
      responses: {
        200: { description: 'Saved', schema: settingsView, headers: etagHeader },
        409: { description: 'Stale: someone saved the settings since you read them' },
        412: { description: 'If-Match is not a version' },
        428: { description: 'No version given (If-Match or body `version`)' },
      },
    },
    async (koa, { body }) => {
      const { version: bodyVersion, ...settings } = body;
      const version = expectedVersion(koa, bodyVersion);
      const { before, after: saved } = await deps.settings.save(settings, version, adminPrincipal(koa).id);
      await auditAdminAction(
        ctx,
        koa,
        'webClip.settings.update',
        { type: 'web-clip-settings', id: 'default' },
        {
          before: { ...before.value, version: before.version },
          after: { ...saved.value, version: saved.version },
        },
      );
      koa.set('ETag', etag(saved.version));
      koa.body = view(saved);
    },
  );
}
