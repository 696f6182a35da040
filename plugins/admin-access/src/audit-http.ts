import {
  adminApi,
  decodeCursor,
  encodeCursor,
  type PluginContext,
  type PluginRouter,
  pageOf,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { AuditEntries } from './storage/audit-log.js';

const entrySchema = z.object({
  id: z.string(),
  at: z.date(),
  actor: z.object({ id: z.string(), kind: z.string(), displayName: z.string() }),
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string() }),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  requestId: z.string().optional(),
});

const listQuery = z.object({
  action: z.string().max(100).optional().describe('Exact action, or a prefix ending in "." ("enrollment-profile.")'),
  actorId: z.string().max(200).optional(),
  targetType: z.string().max(100).optional(),
  targetId: z.string().max(200).optional().describe('Needs targetType'),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const cursorSchema = z.object({ id: z.string().regex(/^[0-9a-f]{24}$/) });

/** GET /api/admin/audit-log: newest first, filtered by action, actor or target; read-only. */
export function mountAuditRoutes(router: PluginRouter, ctx: PluginContext<unknown>, entries: () => AuditEntries): void {
  adminApi(router, ctx, { tags: ['audit'] }).get(
    '/audit-log',
    {
      scope: 'audit:read',
      summary: 'The audit log: who did what, when, before and after; newest first',
      query: listQuery,
      responses: { 200: { description: 'A page of entries', schema: pageOf(entrySchema) } },
    },
    async (koa, { query }) => {
      const docs = await entries().page({
        action: query.action,
        actionPrefix: query.action?.endsWith('.'),
        actorId: query.actorId,
        targetType: query.targetType,
        targetId: query.targetId,
        before: query.cursor ? decodeCursor(query.cursor, cursorSchema).id : undefined,
        limit: query.limit + 1,
      });
      const page = docs.slice(0, query.limit);
      koa.body = {
        items: page,
        nextCursor: docs.length > query.limit ? encodeCursor({ id: page[page.length - 1].id }) : null,
      };
    },
  );
}
