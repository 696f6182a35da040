import { z } from 'zod';
import { adminPrincipal, auditAdminAction } from './admin-http.js';
import type { AdminApi } from './openapi.js';
import type { ServiceResolver } from './plugin.js';
import {
  etag,
  etagHeader,
  expectedVersion,
  ifMatchHeader,
  type StoredSettings,
  type VersionedSettingsStore,
} from './versioning.js';

export interface VersionedSettingsRouteOptions<T extends Record<string, unknown>> {
  /** "/sso-policy", under the router's prefix. */
  path: string;
  store: VersionedSettingsStore<T>;
  /** The settings' own schema: validates the PUT body and describes both routes. */
  schema: z.ZodObject;
  /** Admin area: reads need `<area>:read`, saves `<area>:write`. */
  scopeArea: string;
  /** "the SSO extension policy": used in the summaries and the 409's description. */
  noun: string;
  /** Audit action and target type of a save: "jit.ssoPolicy.update", "sso-policy". */
  audit: { action: string; targetType: string };
  /** Fields a read adds to the stored values (the web clip's effective URL), with their schemas. */
  derived?: { shape: z.ZodRawShape; of(stored: StoredSettings<T>): Record<string, unknown> };
  /**
   * Since 2.12: runs after a save (and its audit record), before the answer: e.g. re-sync the devices whose
   * declarations follow these settings. Keep it to queueing work: when it throws, the save stands, the failure is
   * logged and the answer is still the saved values.
   */
  onSaved?(saved: StoredSettings<T>): Promise<void>;
}

/**
 * GET and PUT for settings kept in a VersionedSettingsStore: the GET answers the values with their version as the
 * ETag; the PUT needs the version it read (If-Match or body `version`; 428/412/409), is audited with before and
 * after, and answers the saved values.
 */
export function mountVersionedSettingsRoutes<T extends Record<string, unknown>>(
  api: AdminApi,
  ctx: ServiceResolver,
  options: VersionedSettingsRouteOptions<T>,
): void {
  const { path, store, schema, noun } = options;
  const viewSchema = schema.extend({
    version: z.number().int().describe('0 while the defaults apply; send it back (or If-Match) to save'),
    ...options.derived?.shape,
    updatedBy: z.string().nullable(),
    updatedAt: z.date().nullable(),
  });
  const bodySchema = schema.extend({
    version: z.number().int().min(0).optional().describe('The version you read (or send If-Match)'),
  });
  const view = (stored: StoredSettings<T>) => ({
    ...stored.value,
    version: stored.version,
    ...options.derived?.of(stored),
    updatedBy: stored.updatedBy ?? null,
    updatedAt: stored.updatedAt ?? null,
  });

  api.get(
    path,
    {
      scope: `${options.scopeArea}:read`,
      summary: `Read ${noun}`,
      responses: { 200: { description: `${noun}, with its version`, schema: viewSchema, headers: etagHeader } },
    },
    async (koa) => {
      const stored = await store.current();
      koa.set('ETag', etag(stored.version));
      koa.body = view(stored);
    },
  );

  api.put(
    path,
    {
      scope: `${options.scopeArea}:write`,
      summary: `Replace ${noun} (devices enrolled later get it; needs the version you read)`,
      headers: ifMatchHeader,
      body: bodySchema,
      responses: {
        200: { description: 'Saved', schema: viewSchema, headers: etagHeader },
        409: { description: `Stale: someone saved ${noun} since you read it` },
        412: { description: 'If-Match is not a version' },
        428: { description: 'No version given (If-Match or body `version`)' },
      },
    },
    async (koa, { body }) => {
      const { version: bodyVersion, ...values } = body as Record<string, unknown> & { version?: number };
      const version = expectedVersion(koa, bodyVersion);
      const { before, after } = await store.save(values as T, version, adminPrincipal(koa).id);
      await auditAdminAction(
        ctx,
        koa,
        options.audit.action,
        { type: options.audit.targetType, id: 'default' },
        { before: { ...before.value, version: before.version }, after: { ...after.value, version: after.version } },
      );
      try {
        await options.onSaved?.(after);
      } catch (error) {
        // The save stands: answering an error would send the admin to retry with a version that is gone.
        const log: { warn(obj: object, msg: string): void } | undefined = koa.state.log;
        log?.warn(
          { err: { message: (error as Error).message } },
          'settings saved; the follow-up work could not be queued',
        );
      }
      koa.set('ETag', etag(after.version));
      koa.body = view(after);
    },
  );
}
