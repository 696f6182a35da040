import { adminApi, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { AccountEnrollmentConfig } from './config.js';
import type { DiscoveryDocument } from './discovery.js';
import { checkDiscovery } from './discovery-check.js';

const checkSchema = z.object({
  domain: z.string(),
  url: z.string(),
  ok: z.boolean(),
  status: z.number().int().optional(),
  problem: z.string().optional(),
});
const discoverySchema = z.object({
  document: z.object({ Servers: z.array(z.object({ Version: z.string(), BaseURL: z.string() })) }),
  checks: z.array(checkSchema),
});
const query = z.object({
  domain: z
    .string()
    .regex(/^[a-z0-9.-]+(:\d{1,5})?$/i, 'a host name, optionally with a port')
    .max(260)
    .optional()
    .describe('Check this host instead of every configured domain'),
});

/** Admin API under /api/account-enrollment: the discovery document, and whether each domain serves it. */
export function mountAdminRoutes(
  router: PluginRouter,
  ctx: PluginContext<AccountEnrollmentConfig>,
  document: DiscoveryDocument,
): void {
  adminApi(router, ctx, { tags: ['profiles'] }).get(
    '/discovery',
    {
      scope: 'profiles:read',
      summary: 'Service discovery: the document, and a live check that each email domain serves it',
      description:
        "Fetches https://<domain>/.well-known/com.apple.remotemanagement for every configured domain (or `domain`) as a device would, following redirects, and compares the answer with this gateway's document.",
      query,
      responses: { 200: { description: 'The document and one check per domain', schema: discoverySchema } },
    },
    async (koa, input) => {
      const domains = input.query.domain ? [input.query.domain.toLowerCase()] : ctx.config.domains;
      const configured = new Set(ctx.config.domains);
      const checks = await Promise.all(
        domains.map((domain) =>
          checkDiscovery(domain, document, { asAccountOf: configured.has(domain) ? domain : undefined }),
        ),
      );
      koa.set('Cache-Control', 'no-store');
      koa.body = { document, checks };
    },
  );
}
