import type Router from '@koa/router';
import {
  type AdminAuthenticator,
  type AdminPrincipal,
  type AuditLog,
  adminPrincipal,
  auditAdminAction,
  NotFoundProblem,
  type PluginContext,
  ProblemError,
  readJsonBody,
  requireAdminScope,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { ApiKeyRefused, type ApiKeyStore, newApiKeyFields } from './api-keys.js';
import { scopeCovers } from './scopes.js';

/** The gwk_ key a request carries, if any: `Authorization: Bearer gwk_…` or `X-API-Key`. */
function presentedKey(koa: Koa.Context): string | undefined {
  const explicit = koa.get('x-api-key');
  if (explicit) return explicit.trim();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(koa.get('authorization'));
  // Other bearer tokens (JWTs) belong to other authenticators.
  return match?.[1].startsWith('gwk_') ? match[1] : undefined;
}

/** Recognises API keys; refuses a bad one with 401 and records the refusal in the audit log. */
export function apiKeyAuthenticator(store: ApiKeyStore, audit: () => AuditLog): AdminAuthenticator {
  return {
    name: 'api-key',
    async authenticate(koa): Promise<AdminPrincipal | undefined> {
      const key = presentedKey(koa);
      if (key === undefined) return undefined;
      try {
        const doc = await store.verify(key);
        return { id: `api-key:${doc._id}`, kind: 'api-key', displayName: doc.name, scopes: [...doc.scopes] };
      } catch (error) {
        if (error instanceof ApiKeyRefused) {
          await audit().record({
            actor: {
              id: `api-key:${error.keyId ?? 'unknown'}`,
              kind: 'api-key',
              displayName: error.keyName ?? 'unrecognised key',
            },
            action: 'api-key.refused',
            target: { type: 'api-key', id: error.keyId ?? 'malformed' },
            after: { reason: error.reason, method: koa.method, path: koa.path },
            requestId: koa.state.requestId as string | undefined,
          });
        }
        throw error;
      }
    },
  };
}

/** Admin API for keys under /api/admin: create (shown once), list (no secrets), revoke. */
export function mountApiKeyRoutes(router: Router, ctx: PluginContext<unknown>, store: ApiKeyStore): void {
  router.post('/api-keys', requireAdminScope(ctx, 'api-keys:write'), async (koa) => {
    const body = await readJsonBody(koa, newApiKeyFields);
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
  });

  router.get('/api-keys', requireAdminScope(ctx, 'api-keys:read'), async (koa) => {
    koa.body = { items: await store.list() };
  });

  router.get('/api-keys/:id', requireAdminScope(ctx, 'api-keys:read'), async (koa) => {
    const summary = await store.get(koa.params.id);
    if (!summary) throw new NotFoundProblem('no such API key');
    koa.body = summary;
  });

  router.delete('/api-keys/:id', requireAdminScope(ctx, 'api-keys:write'), async (koa) => {
    const change = await store.revoke(koa.params.id);
    if (!change) throw new NotFoundProblem('no such API key');
    await auditAdminAction(ctx, koa, 'api-key.revoked', { type: 'api-key', id: koa.params.id }, change);
    koa.body = change.after;
  });
}
