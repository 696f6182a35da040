import {
  type AdminAuthenticator,
  type AdminPrincipal,
  adminApi,
  adminPrincipal,
  auditAdminAction,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  ProblemError,
  type RateLimits,
  refuseWhenLimited,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import { ApiKeyRefused, type ApiKeyStore, newApiKeyFields } from './api-keys.js';
import type { RefusalAudit } from './refusal-audit.js';
import { scopeCovers } from './scopes.js';

/** The gwk_ key a request carries, if any: `Authorization: Bearer gwk_…` or `X-API-Key`. */
function presentedKey(koa: Koa.Context): string | undefined {
  const explicit = koa.get('x-api-key');
  if (explicit) return explicit.trim();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(koa.get('authorization'));
  // Other bearer tokens (JWTs) belong to other authenticators.
  return match?.[1].startsWith('gwk_') ? match[1] : undefined;
}

/** The id part of a gwk_ key, when the key has the shape of one (the per-key rate limit counts by it). */
const keyIdOf = (key: string): string | undefined => /^gwk_([0-9a-f]{16})_/.exec(key)?.[1];

/**
 * Recognises API keys. A bad key is refused with 401, counted against the `apiKey` rate limit (per client and
 * per key id: only refusals count, so busy automation with a good key is never limited), and recorded in the
 * audit log through RefusalAudit (one entry per source and window, then a summary with the count). Once a client
 * or key id is over its limit, its requests are refused with 429 before the key is even looked up.
 */
export function apiKeyAuthenticator(
  store: ApiKeyStore,
  deps: { refusals: () => RefusalAudit; rateLimits: RateLimits },
): AdminAuthenticator {
  return {
    name: 'api-key',
    async authenticate(koa): Promise<AdminPrincipal | undefined> {
      const key = presentedKey(koa);
      if (key === undefined) return undefined;
      const subject = { client: koa.ip, key: keyIdOf(key) };
      const earlier = await deps.rateLimits.peek('apiKey', subject);
      // A counter store that is down only stops refusals below from being counted: good keys still work.
      if (earlier.limited && earlier.scope !== 'store') refuseWhenLimited(earlier);
      try {
        const doc = await store.verify(key);
        return { id: `api-key:${doc._id}`, kind: 'api-key', displayName: doc.name, scopes: [...doc.scopes] };
      } catch (error) {
        if (!(error instanceof ApiKeyRefused)) throw error;
        await deps
          .refusals()
          .refused({
            source: koa.ip,
            keyId: error.keyId,
            keyName: error.keyName,
            reason: error.reason,
            method: koa.method,
            path: koa.path,
            requestId: koa.state.requestId as string | undefined,
          })
          // Without Redis nothing can be counted: the limit below answers 503, and the refusal is only logged.
          .catch((failure: Error) =>
            koa.state.log?.warn({ err: { message: failure.message }, reason: error.reason }, 'refusal not audited'),
          );
        refuseWhenLimited(await deps.rateLimits.consume('apiKey', subject));
        throw error;
      }
    },
  };
}

const summarySchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  prefix: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  lastUsedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  status: z.enum(['active', 'expired', 'revoked']),
});
const idParams = z.object({ id: z.string().min(1).max(100) });
const NOT_FOUND = { description: 'No such API key' };

/** Admin API for keys under /api/admin: create (shown once), list (no secrets), revoke. */
export function mountApiKeyRoutes(router: PluginRouter, ctx: PluginContext<unknown>, store: ApiKeyStore): void {
  const api = adminApi(router, ctx, { tags: ['api-keys'] });
  api.post(
    '/api-keys',
    {
      scope: 'api-keys:write',
      summary: 'Create an API key; the secret is shown once',
      body: newApiKeyFields,
      responses: {
        201: {
          description: 'The key with its secret',
          schema: summarySchema.extend({ key: z.string(), notice: z.string() }),
        },
        403: { description: 'Asked for scopes this credential lacks' },
      },
    },
    async (koa, { body }) => {
      const principal = adminPrincipal(koa);
      // No escalation: a caller may only hand out scopes it holds itself.
      const beyond = body.scopes.filter((scope) => !scopeCovers(principal.scopes, scope));
      if (beyond.length > 0) {
        throw new ProblemError(403, 'Forbidden', `cannot grant scopes this credential lacks: ${beyond.join(', ')}`);
      }
      const { key, summary } = await store.create({ ...body, createdBy: principal.id });
      await auditAdminAction(ctx, koa, 'api-key.created', { type: 'api-key', id: summary.id }, { after: summary });
      koa.status = 201;
      koa.set('cache-control', 'no-store');
      koa.body = { ...summary, key, notice: 'store this key now: it is not shown again' };
    },
  );

  api.get(
    '/api-keys',
    {
      scope: 'api-keys:read',
      summary: 'List API keys (never their secrets)',
      responses: { 200: { description: 'Every key', schema: z.object({ items: z.array(summarySchema) }) } },
    },
    async (koa) => {
      koa.body = { items: await store.list() };
    },
  );

  api.get(
    '/api-keys/:id',
    {
      scope: 'api-keys:read',
      summary: 'One API key',
      params: idParams,
      responses: { 200: { description: 'The key', schema: summarySchema }, 404: NOT_FOUND },
    },
    async (koa, { params }) => {
      const summary = await store.get(params.id);
      if (!summary) throw new NotFoundProblem('no such API key');
      koa.body = summary;
    },
  );

  api.delete(
    '/api-keys/:id',
    {
      scope: 'api-keys:write',
      summary: 'Revoke an API key',
      params: idParams,
      responses: { 200: { description: 'The revoked key', schema: summarySchema }, 404: NOT_FOUND },
    },
    async (koa, { params }) => {
      const change = await store.revoke(params.id);
      if (!change) throw new NotFoundProblem('no such API key');
      await auditAdminAction(ctx, koa, 'api-key.revoked', { type: 'api-key', id: params.id }, change);
      koa.body = change.after;
    },
  );
}
