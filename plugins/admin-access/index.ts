import {
  ADMIN_PRINCIPAL_STATE,
  type AdminAuthenticator,
  type AdminPrincipal,
  adminAuthenticatorsPoint,
  adminGuardRef,
  auditLogRef,
  definePlugin,
  type PluginContext,
  ProblemError,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { apiKeyCommands } from './src/api-key-cli.js';
import { apiKeyAuthenticator, mountApiKeyRoutes } from './src/api-key-http.js';
import { ApiKeyStore } from './src/api-keys.js';
import { mountAuditRoutes } from './src/audit-http.js';
import { auditSettingsSchema, RefusalAudit, type RefusalSummaryJob } from './src/refusal-audit.js';
import { scopeCovers } from './src/scopes.js';
import { MongoApiKeyStorage } from './src/storage/api-key-storage.js';
import { MongoAuditLog } from './src/storage/audit-log.js';
import { pruneAuditLog } from './src/storage/audit-retention.js';

const AUDIT_QUEUE = 'admin-access-audit';
type AuditJob = RefusalSummaryJob | { kind: 'prune' };

export { scopeCovers };

type AdminAccessConfig = { audit: z.output<typeof auditSettingsSchema> };

/**
 * Owns admin authentication: identity plugins contribute authenticators (sessions, bearer tokens);
 * this plugin contributes the scoped API keys itself. Routes ask the guard for a scope. Nothing is
 * allowed unless an authenticator says so.
 */
export default definePlugin({
  name: 'admin-access',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Deny-by-default guard for admin routes, scoped API keys, and the audit log',
  config: z.object({ audit: auditSettingsSchema }),
  register(api) {
    let refusalAudit: RefusalAudit | undefined;
    const refusals = (ctx: PluginContext<AdminAccessConfig>) =>
      (refusalAudit ??= new RefusalAudit(
        ctx.redis,
        ctx.redisKeyPrefix,
        () => ctx.resolve(auditLogRef),
        ctx.config.audit,
        async (job, runAt, jobId) => {
          await ctx.queue<AuditJob>(AUDIT_QUEUE).add('refusal-summary', job, {
            jobId,
            delay: Math.max(0, runAt - Date.now()) + 1_000,
            attempts: 5,
            backoff: { type: 'exponential', delay: 2_000 },
            removeOnComplete: true,
          });
        },
      ));
    let apiKeys: { service: ApiKeyStore; storage: MongoApiKeyStorage } | undefined;
    const keys = (ctx: PluginContext<unknown>) => {
      if (!apiKeys) {
        const storage = new MongoApiKeyStorage(ctx.mongo);
        apiKeys = { service: new ApiKeyStore(storage), storage };
      }
      return apiKeys;
    };
    const keyStore = (ctx: PluginContext<unknown>) => keys(ctx).service;
    api.extensionPoint(adminAuthenticatorsPoint);
    api.provide(auditLogRef, (ctx) => new MongoAuditLog(ctx.mongo));
    api.contribute(adminAuthenticatorsPoint, (ctx) =>
      apiKeyAuthenticator(keyStore(ctx), { refusals: () => refusals(ctx), rateLimits: ctx.rateLimits }),
    );
    api.queue<AuditJob>({
      name: AUDIT_QUEUE,
      async processor(job, ctx) {
        if (job.data.kind === 'prune') return pruneAuditLog(ctx.mongo, ctx.config.audit);
        return { count: await refusals(ctx).summarize(job.data) };
      },
    });
    api.onStart(async (ctx) => {
      if (ctx.gateway.role === 'serve') return;
      await ctx
        .queue<AuditJob>(AUDIT_QUEUE)
        .queue.upsertJobScheduler('audit-prune', { every: 86_400_000 }, { name: 'prune', data: { kind: 'prune' } });
    });
    api.provide(adminGuardRef, (ctx) => {
      const authenticators = (): AdminAuthenticator[] => ctx.extensions(adminAuthenticatorsPoint).map((c) => c.value);
      return {
        require: (scope: string) => async (koa, next) => {
          let principal: AdminPrincipal | undefined;
          for (const authenticator of authenticators()) {
            principal = await authenticator.authenticate(koa);
            if (principal) break;
          }
          if (!principal) {
            throw new ProblemError(
              401,
              'Authentication required',
              'sign in as an admin, or send a bearer token or API key',
            );
          }
          if (!scopeCovers(principal.scopes, scope)) {
            throw new ProblemError(403, 'Forbidden', `this credential lacks the "${scope}" scope`);
          }
          koa.state[ADMIN_PRINCIPAL_STATE] = principal;
          await next();
        },
      };
    });
    api.routes({
      prefix: '/api/admin',
      mount: (router, ctx) => {
        mountApiKeyRoutes(router, ctx, keyStore(ctx));
        mountAuditRoutes(router, ctx, () => new MongoAuditLog(ctx.mongo));
      },
    });
    for (const command of apiKeyCommands((ctx) => ({ store: keyStore(ctx), audit: ctx.resolve(auditLogRef) }))) {
      api.command(command);
    }
    api.onStart(async (ctx) => {
      await new MongoAuditLog(ctx.mongo).ensureIndexes();
      await keys(ctx).storage.ensureIndexes();
    });
  },
});
