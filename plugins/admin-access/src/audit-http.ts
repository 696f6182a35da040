import type Router from '@koa/router';
import { adminApi, decodeCursor, encodeCursor, type PluginContext, pageOf } from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import { z } from 'zod';

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

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** GET /api/admin/audit-log: newest first, filtered by action, actor or target; read-only. */
export function mountAuditRoutes(router: Router, ctx: PluginContext<unknown>): void {
  adminApi(router, ctx, { tags: ['audit'] }).get(
    '/audit-log',
    {
      scope: 'audit:read',
      summary: 'The audit log: who did what, when, before and after; newest first',
      query: listQuery,
      responses: { 200: { description: 'A page of entries', schema: pageOf(entrySchema) } },
    },
    async (koa, { query }) => {
      const filter: Record<string, unknown> = {};
      if (query.action) {
        filter.action = query.action.endsWith('.') ? { $regex: `^${escapeRegex(query.action)}` } : query.action;
      }
      if (query.actorId) filter['actor.id'] = query.actorId;
      if (query.targetType) filter['target.type'] = query.targetType;
      if (query.targetType && query.targetId) filter['target.id'] = query.targetId;
      if (query.cursor) filter._id = { $lt: new Types.ObjectId(decodeCursor(query.cursor, cursorSchema).id) };
      const docs = await ctx.mongo
        .collection('audit_log')
        .find(filter)
        .sort({ _id: -1 })
        .limit(query.limit + 1)
        .toArray();
      const page = docs.slice(0, query.limit);
      koa.body = {
        items: page.map(({ _id, ...entry }) => ({ id: String(_id), ...entry })),
        nextCursor: docs.length > query.limit ? encodeCursor({ id: String(page[page.length - 1]._id) }) : null,
      };
    },
  );
}
