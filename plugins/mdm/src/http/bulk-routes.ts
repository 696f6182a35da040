import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  decodeCursor,
  encodeCursor,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  pageOf,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import { type BulkCommandService, type BulkRun, type BulkTarget, MAX_BULK_DEVICES } from '../services/bulk-commands.js';
import { commandBody } from './command-body.js';
import { listQuery, matchesQuery } from './device-list.js';

/** A bulk InstallProfile carries the profile once: up to 4 MiB, so about 5.6 MB of base64 in JSON. */
export const BULK_BODY_LIMIT = 6 * 1024 * 1024;

const OUTCOMES = ['queued', 'already-queued', 'not-managed', 'cancelled', 'not-waiting'] as const;
const STATES = ['queued', 'sent', 'not-now', 'acknowledged', 'error', 'format-error', 'cancelled'] as const;

const deviceFilter = listQuery
  .pick({ q: true, userId: true, state: true, osVersion: true, lastCheckInBefore: true, lastCheckInAfter: true })
  .strict()
  .describe('The devices list filters (GET /api/mdm/devices), as an object');

const targetSchema = z
  .strictObject({
    deviceIds: z
      .array(z.string().regex(/^[0-9a-f]{24}$/, 'must be a device id'))
      .min(1)
      .max(MAX_BULK_DEVICES)
      .optional()
      .describe('These devices'),
    filter: deviceFilter.optional(),
    group: z.string().min(1).max(200).optional().describe('Devices of the members of this user group (group id)'),
  })
  .superRefine((target, ctx) => {
    const given = [target.deviceIds, target.filter, target.group].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of deviceIds, filter or group' });
  })
  .describe('Which devices: exactly one of deviceIds, filter or group');

const enqueueBody = z.object({ target: targetSchema, command: commandBody });
const cancelBody = z
  .strictObject({
    operationId: z.uuid().optional().describe('Cancel the command of this bulk operation where it still waits'),
    commandUuid: z.string().min(1).max(128).optional().describe('…or this CommandUUID on the target devices'),
    target: targetSchema.optional(),
  })
  .superRefine((body, ctx) => {
    if (body.operationId !== undefined && (body.commandUuid !== undefined || body.target !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give operationId, or commandUuid with target, not both' });
    } else if (body.operationId === undefined) {
      if (body.commandUuid === undefined) ctx.addIssue({ code: 'custom', path: ['commandUuid'], message: 'required' });
      if (body.target === undefined) ctx.addIssue({ code: 'custom', path: ['target'], message: 'required' });
    }
  });

const operationSchema = z.object({
  id: z.string(),
  kind: z.enum(['enqueue', 'cancel']),
  requestType: z.string(),
  commandUuid: z.string(),
  cancels: z.string().optional(),
  target: z.object({
    kind: z.enum(['devices', 'filter', 'group']),
    detail: z.record(z.string(), z.unknown()).optional(),
  }),
  actor: z.object({ id: z.string(), displayName: z.string() }),
  total: z.number().int(),
  createdAt: z.date(),
});
const countsOf = <T extends readonly [string, ...string[]]>(keys: T) =>
  z.object(
    Object.fromEntries(keys.map((k) => [k, z.number().int().optional()])) as Record<
      T[number],
      z.ZodOptional<z.ZodNumber>
    >,
  );
const runSchema = operationSchema.extend({
  outcomes: countsOf(OUTCOMES),
  devices: z.array(z.object({ deviceId: z.string(), outcome: z.enum(OUTCOMES) })),
});
const progressSchema = operationSchema.extend({
  outcomes: countsOf(OUTCOMES).describe('What the request did on each device, counted'),
  commands: countsOf(STATES).describe('Where the command stands on the devices it was queued for'),
  finished: z.boolean().describe('Every device has an outcome and no command waits or is out on a device'),
  devices: z.array(z.object({ deviceId: z.string(), outcome: z.enum(OUTCOMES), state: z.enum(STATES).optional() })),
});
const listCursor = z.object({ t: z.iso.datetime(), id: z.string() });

function toTarget(target: z.output<typeof targetSchema>): BulkTarget {
  if (target.deviceIds) return { deviceIds: target.deviceIds };
  if (target.filter) {
    const query = { ...target.filter, sort: 'enrolled' as const, limit: 1 };
    return { filter: { predicate: matchesQuery(query), userId: target.filter.userId, given: target.filter } };
  }
  return { group: target.group as string };
}

function describeRun({ operation, outcomes }: BulkRun) {
  const counts: Record<string, number> = {};
  for (const { outcome } of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  const { _id, ...rest } = operation;
  return { id: _id, ...rest, outcomes: counts, devices: outcomes };
}

/** Bulk commands under /api/mdm/bulk: one request, many devices, one audit entry, progress by operation id. */
export function mountBulkRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: { bulk: BulkCommandService },
): void {
  const api = adminApi(router, ctx, { tags: ['devices'] });
  const actorOf = (koa: Koa.Context) => {
    const principal = adminPrincipal(koa);
    return { id: principal.id, displayName: principal.displayName };
  };

  api.post(
    '/commands',
    {
      scope: 'devices:write',
      summary: 'Queue one command on many devices (ids, a device filter, or a user group) and wake them',
      description:
        'One CommandUUID for every device; each device is woken once (pushes are coalesced). Answers every ' +
        "device's outcome; follow the progress at GET /api/mdm/bulk/commands/{id}. One audit entry.",
      body: enqueueBody,
      bodyLimit: BULK_BODY_LIMIT,
      responses: {
        202: { description: 'Queued where the device is managed', schema: runSchema },
      },
    },
    async (koa, { body }) => {
      const { payload, commandUuid, requestType } = body.command;
      const run = await deps.bulk.enqueue(toTarget(body.target), { requestType, payload, commandUuid }, actorOf(koa));
      const answer = describeRun(run);
      await auditAdminAction(
        ctx,
        koa,
        'mdm.command.bulk-enqueue',
        { type: 'bulk-operation', id: answer.id },
        { after: { requestType, commandUuid: answer.commandUuid, target: answer.target, outcomes: answer.outcomes } },
      );
      koa.status = 202;
      koa.body = answer;
    },
  );

  api.post(
    '/cancellations',
    {
      scope: 'devices:write',
      summary: 'Cancel a queued command on many devices (a bulk operation, or a CommandUUID on a target)',
      description: 'Only commands not yet sent to the device are cancelled; the others report not-waiting.',
      body: cancelBody,
      responses: { 200: { description: 'Cancelled where the command still waited', schema: runSchema } },
    },
    async (koa, { body }) => {
      const source = body.operationId
        ? { operationId: body.operationId }
        : { commandUuid: body.commandUuid as string, target: toTarget(body.target as z.output<typeof targetSchema>) };
      const answer = describeRun(await deps.bulk.cancel(source, actorOf(koa)));
      await auditAdminAction(
        ctx,
        koa,
        'mdm.command.bulk-cancel',
        { type: 'bulk-operation', id: answer.id },
        { after: { commandUuid: answer.commandUuid, cancels: answer.cancels, outcomes: answer.outcomes } },
      );
      koa.body = answer;
    },
  );

  api.get(
    '/commands',
    {
      scope: 'devices:read',
      summary: 'Bulk operations, newest first',
      query: z.object({
        cursor: z.string().max(200).optional(),
        limit: z.coerce.number().int().min(1).max(100).default(20),
      }),
      responses: { 200: { description: 'A page of operations', schema: pageOf(operationSchema) } },
    },
    async (koa, { query }) => {
      const cursor = query.cursor ? decodeCursor(query.cursor, listCursor) : undefined;
      const docs = await deps.bulk.list(
        query.limit + 1,
        cursor ? { createdAt: new Date(cursor.t), id: cursor.id } : undefined,
      );
      const page = docs.slice(0, query.limit);
      const last = page[page.length - 1];
      koa.body = {
        items: page.map(({ _id, ...rest }) => ({ id: _id, ...rest })),
        nextCursor:
          docs.length > query.limit && last ? encodeCursor({ t: last.createdAt.toISOString(), id: last._id }) : null,
      };
    },
  );

  api.get(
    '/commands/:id',
    {
      scope: 'devices:read',
      summary: "A bulk operation's progress: per-device outcomes and where the command stands on each",
      params: z.object({ id: z.string().min(1).max(64) }),
      responses: {
        200: { description: 'The operation and its progress', schema: progressSchema },
        404: { description: 'No such operation' },
      },
    },
    async (koa, { params }) => {
      const progress = await deps.bulk.progress(params.id);
      if (!progress) throw new NotFoundProblem('no such bulk operation');
      const { _id, ...rest } = progress.operation;
      koa.body = {
        id: _id,
        ...rest,
        outcomes: progress.outcomes,
        commands: progress.commands,
        finished: progress.finished,
        devices: progress.devices,
      };
    },
  );
}
