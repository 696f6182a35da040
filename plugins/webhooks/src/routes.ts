import {
  adminApi,
  auditAdminAction,
  decodeCursor,
  encodeCursor,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  pageOf,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { WEBHOOK_EVENTS } from './config.js';
import {
  type DeadLetterDoc,
  type DeadLetterReader,
  type DeadLetterRemovals,
  deliveryIdOf,
} from './storage/dead-letters.js';
import type { WebhookService } from './webhook-service.js';

export const WEBHOOKS_READ = 'webhooks:read';
export const WEBHOOKS_WRITE = 'webhooks:write';

const eventType = z.enum([...WEBHOOK_EVENTS, 'webhook.ping']);

const endpointView = z.object({
  name: z.string(),
  url: z.string(),
  events: z.array(eventType),
  deadLetters: z.number().int().describe('Entries on the dead-letter list'),
});

const deadLetterView = z.object({
  id: z.string().describe('This dead letter: the delivery id, then .r<n> when it died again after n replays'),
  deliveryId: z.string().describe('The delivery: <event id>.<endpoint>'),
  eventId: z.string().describe('Webhook-Id of every attempt and replay'),
  endpoint: z.string(),
  url: z.string(),
  type: eventType,
  occurredAt: z.string(),
  attempts: z.number().int().describe('Attempts made before giving up'),
  replays: z.number().int().describe('How often an admin replayed it before'),
  lastStatus: z.number().int().nullable().describe('HTTP status of the last attempt; null when none came back'),
  lastError: z.string(),
  deadAt: z.date(),
  data: z.unknown().describe('The event, as the receiver would get it'),
});

const cursorPosition = z.object({ deadAt: z.number().int(), id: z.string().max(120) });
const listQuery = z.object({
  endpoint: z.string().max(40).optional(),
  cursor: z.string().max(400).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const deadLetterParams = z.object({
  id: z.string().regex(/^[0-9a-f-]{36}\.[a-z0-9-]{1,40}(\.r[0-9]{1,9})?$/, 'not a dead letter id'),
});
const endpointParams = z.object({ name: z.string().max(40) });

const view = (doc: DeadLetterDoc): z.output<typeof deadLetterView> => ({
  id: doc._id,
  deliveryId: deliveryIdOf(doc),
  eventId: doc.eventId,
  endpoint: doc.endpoint,
  url: doc.url,
  type: doc.type,
  occurredAt: doc.occurredAt,
  attempts: doc.attempts,
  replays: doc.replays,
  lastStatus: doc.lastStatus ?? null,
  lastError: doc.lastError,
  deadAt: doc.deadAt,
  data: doc.data,
});

/** Admin API under /api/webhooks: endpoints, the dead-letter list, replay and discard, a test ping. */
export function mountWebhookRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: { webhooks: WebhookService; deadLetters: DeadLetterReader & DeadLetterRemovals },
): void {
  const api = adminApi(router, ctx, { tags: ['webhooks'] });

  api.get(
    '/endpoints',
    {
      scope: WEBHOOKS_READ,
      summary: 'List the configured receivers (never their secrets)',
      responses: { 200: { description: 'The endpoints', schema: z.object({ items: z.array(endpointView) }) } },
    },
    async (koa) => {
      const dead = await deps.deadLetters.countByEndpoint();
      koa.body = {
        items: deps.webhooks
          .listEndpoints()
          .map((endpoint) => ({ ...endpoint, deadLetters: dead[endpoint.name] ?? 0 })),
      };
    },
  );

  api.post(
    '/endpoints/:name/ping',
    {
      scope: WEBHOOKS_WRITE,
      summary: 'Send a signed webhook.ping to one endpoint',
      params: endpointParams,
      responses: {
        202: { description: 'Queued', schema: z.object({ deliveryId: z.string() }) },
        404: { description: 'No endpoint with that name' },
      },
    },
    async (koa, { params }) => {
      const deliveryId = await deps.webhooks.ping(params.name);
      await auditAdminAction(ctx, koa, 'webhooks.endpoint.ping', { type: 'webhook-endpoint', id: params.name });
      koa.status = 202;
      koa.body = { deliveryId };
    },
  );

  api.get(
    '/dead-letters',
    {
      scope: WEBHOOKS_READ,
      summary: 'Deliveries that used up their attempts, newest first',
      query: listQuery,
      responses: { 200: { description: 'A page of dead letters', schema: pageOf(deadLetterView) } },
    },
    async (koa, { query }) => {
      const after = query.cursor ? decodeCursor(query.cursor, cursorPosition) : undefined;
      const page = await deps.deadLetters.list({
        endpoint: query.endpoint,
        limit: query.limit,
        after: after && { deadAt: new Date(after.deadAt), id: after.id },
      });
      const last = page.items.at(-1);
      koa.body = {
        items: page.items.map(view),
        nextCursor: page.more && last ? encodeCursor({ deadAt: last.deadAt.getTime(), id: last._id }) : null,
      };
    },
  );

  api.get(
    '/dead-letters/:id',
    {
      scope: WEBHOOKS_READ,
      summary: 'One dead letter, with the event it carries',
      params: deadLetterParams,
      responses: { 200: { description: 'The dead letter', schema: deadLetterView }, 404: { description: 'None' } },
    },
    async (koa, { params }) => {
      const doc = await deps.deadLetters.get(params.id);
      if (!doc) throw new NotFoundProblem('no such dead letter');
      koa.body = view(doc);
    },
  );

  api.post(
    '/dead-letters/:id/replay',
    {
      scope: WEBHOOKS_WRITE,
      summary: 'Queue a dead letter again with a fresh set of attempts and take it off the list',
      description: 'The receiver gets the same Webhook-Id. Two replays at once still deliver once.',
      params: deadLetterParams,
      responses: {
        202: {
          description: 'Queued',
          schema: z.object({ id: z.string(), jobId: z.string(), replays: z.number().int() }),
        },
        404: { description: 'No such dead letter (or it was replayed already)' },
        409: { description: 'Its endpoint is no longer configured' },
      },
    },
    async (koa, { params }) => {
      const { deadLetter, jobId } = await deps.webhooks.replay(params.id);
      await auditAdminAction(
        ctx,
        koa,
        'webhooks.deadLetter.replay',
        { type: 'webhook-dead-letter', id: deadLetter._id },
        { before: { endpoint: deadLetter.endpoint, attempts: deadLetter.attempts, lastError: deadLetter.lastError } },
      );
      koa.status = 202;
      koa.body = { id: deadLetter._id, jobId, replays: deadLetter.replays + 1 };
    },
  );

  api.delete(
    '/dead-letters/:id',
    {
      scope: WEBHOOKS_WRITE,
      summary: 'Discard a dead letter without sending it',
      params: deadLetterParams,
      responses: { 204: { description: 'Discarded' }, 404: { description: 'None' } },
    },
    async (koa, { params }) => {
      const doc = await deps.deadLetters.get(params.id);
      if (!doc || !(await deps.deadLetters.remove(params.id))) throw new NotFoundProblem('no such dead letter');
      await auditAdminAction(
        ctx,
        koa,
        'webhooks.deadLetter.discard',
        { type: 'webhook-dead-letter', id: params.id },
        { before: { endpoint: doc.endpoint, type: doc.type, lastError: doc.lastError } },
      );
      koa.status = 204;
    },
  );
}
