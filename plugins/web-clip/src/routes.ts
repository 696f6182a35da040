import type Router from '@koa/router';
import { adminApi, adminPrincipal, auditAdminAction, type PluginContext, ProblemError } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
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

const ETAG = { ETag: 'The version, for If-Match' };

/**
 * The version a write expects, from If-Match ("3", W/"3") or the body's `version`. Required: a save
 * without one could silently overwrite someone else's (428 Precondition Required).
 */
function expectedVersion(koa: Koa.Context, bodyVersion: number | undefined): number {
  const header = koa.get('if-match');
  if (header) {
    const match = /^(?:W\/)?"?(\d{1,15})"?$/.exec(header.trim());
    if (!match) throw new ProblemError(412, 'Precondition failed', 'If-Match must be the version from the ETag');
    const fromHeader = Number(match[1]);
    if (bodyVersion !== undefined && bodyVersion !== fromHeader) {
      throw new ProblemError(400, 'Invalid request', 'If-Match and body version disagree');
    }
    return fromHeader;
  }
  if (bodyVersion !== undefined) return bodyVersion;
  throw new ProblemError(428, 'Precondition required', 'send the version you read, as If-Match or in the body');
}

/** Admin API under /api/web-clip: the settings new enrollments get. */
export function mountWebClipRoutes(
  router: Router,
  ctx: PluginContext<unknown>,
  deps: { settings: WebClipSettingsStore; portalUrl: () => string },
): void {
  const api = adminApi(router, ctx, { tags: ['policies'] });
  const view = (stored: StoredWebClipSettings): z.output<typeof settingsView> => ({
    ...stored.settings,
    version: stored.version,
    effectiveUrl: stored.settings.url ?? deps.portalUrl(),
    updatedBy: stored.updatedBy ?? null,
    updatedAt: stored.updatedAt ?? null,
  });

  api.get(
    '/settings',
    {
      scope: 'policies:read',
      summary: 'The web clip settings devices get when they enroll',
      responses: { 200: { description: 'The settings', schema: settingsView, headers: ETAG } },
    },
    async (koa) => {
      const stored = await deps.settings.current();
      koa.set('ETag', `"${stored.version}"`);
      koa.body = view(stored);
    },
  );

  api.put(
    '/settings',
    {
      scope: 'policies:write',
      summary: 'Replace the web clip settings (devices enrolled later get them; needs the version you read)',
      headers: {
        'If-Match': { description: 'The ETag (version) you read; a stale one answers 409. Or send `version`.' },
      },
      body: settingsBody,
      responses: {
        200: { description: 'Saved', schema: settingsView, headers: ETAG },
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
          before: { ...before.settings, version: before.version },
          after: { ...saved.settings, version: saved.version },
        },
      );
      koa.set('ETag', `"${saved.version}"`);
      koa.body = view(saved);
    },
  );
}
