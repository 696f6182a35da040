import { stringify } from 'csv-stringify/sync';
import {
  adminApi,
  decodeCursor,
  ENROLLMENT_FAILURE_REASONS,
  ENROLLMENT_STEPS,
  encodeCursor,
  NotFoundProblem,
  type PluginContext,
  type PluginRouter,
  pageOf,
  ValidationProblem,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import { REASONS } from './reasons.js';
import { type FailureFilter, type FailureItem, failureItem, funnelReport, listFailures } from './report.js';
import type { AttemptRecords } from './storage/attempt-records.js';
import type { DailyCounters } from './storage/daily-counters.js';

const MAX_DAYS = 366;
const CSV_ROWS = 10_000;
const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD');
const today = () => new Date().toISOString().slice(0, 10);
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

const rangeQuery = z.object({
  from: isoDay.optional().describe('First day (UTC), default 29 days before `to`'),
  to: isoDay.optional().describe('Last day (UTC), default today'),
  profileId: z.string().min(1).max(100).optional().describe('Only attempts with this enrollment profile'),
  groupId: z.string().min(1).max(100).optional().describe("Only attempts of this group's members"),
});

const failureQuery = z.object({
  from: isoDay.optional(),
  to: isoDay.optional(),
  reason: z.enum(ENROLLMENT_FAILURE_REASONS).optional(),
  user: z.string().min(1).max(200).optional().describe('A user id, or part of the user name'),
  profileId: z.string().min(1).max(100).optional(),
  groupId: z.string().min(1).max(100).optional().describe("Only attempts of this group's members (at sign-in)"),
  osVersion: z
    .string()
    .regex(/^\d+(\.\d+){0,2}$/)
    .optional()
    .describe('"17" matches 17.x, "17.5" matches 17.5.x'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

const stepSchema = z.enum(ENROLLMENT_STEPS);
const reasonSchema = z.enum(ENROLLMENT_FAILURE_REASONS);
const funnelSchema = z.object({
  from: z.string(),
  to: z.string(),
  steps: z.array(z.object({ step: stepSchema, count: z.number(), conversion: z.number().nullable() })),
  days: z.array(
    z.object({ day: z.string(), attempts: z.number(), enrolled: z.number(), ready: z.number(), failed: z.number() }),
  ),
  failures: z.array(z.object({ reason: reasonSchema, label: z.string(), count: z.number(), remediation: z.string() })),
});
const failureSchema = z.object({
  attemptId: z.string(),
  at: z.string(),
  reason: reasonSchema,
  label: z.string(),
  remediation: z.string().describe('What an admin can do, in plain words'),
  step: stepSchema.describe('The step the attempt stopped at'),
  vetoedBy: z.string().optional().describe('For "vetoed": the plugin that refused'),
  detail: z.string().optional(),
  userId: z.string().optional(),
  userName: z.string().optional(),
  profileId: z.string().optional(),
  platform: z.string().optional(),
  osVersion: z.string().optional(),
  enrollmentId: z.string().optional(),
});
const attemptSchema = z.object({
  attemptId: z.string(),
  startedAt: z.string(),
  userId: z.string().optional(),
  userName: z.string().optional(),
  profileId: z.string().optional(),
  platform: z.string().optional(),
  osVersion: z.string().optional(),
  steps: z.array(
    z.object({
      step: stepSchema,
      outcome: z.enum(['passed', 'failed']),
      at: z.string(),
      reason: reasonSchema.optional(),
    }),
  ),
  failure: failureSchema.optional(),
});
const cursorSchema = z.object({ at: z.string(), id: z.string() });

function checkedRange(query: z.output<typeof rangeQuery>) {
  const to = query.to ?? today();
  const from =
    query.from ?? (query.to ? new Date(Date.parse(to) - 29 * 86_400_000).toISOString().slice(0, 10) : daysAgo(29));
  const span = (Date.parse(to) - Date.parse(from)) / 86_400_000;
  if (!(span >= 0 && span < MAX_DAYS))
    throw new ValidationProblem(`from/to: a range of 1 to ${MAX_DAYS} days, from before to`, [
      { path: 'from', message: 'range' },
    ]);
  return { from, to, profileId: query.profileId, groupId: query.groupId };
}

const CSV_COLUMNS: (keyof FailureItem)[] = [
  'at',
  'attemptId',
  'reason',
  'label',
  'step',
  'userName',
  'userId',
  'profileId',
  'platform',
  'osVersion',
  'vetoedBy',
  'detail',
  'remediation',
];

/** Spreadsheet programs run a cell starting with = + - @ as a formula: such cells get a leading quote. */
const cell = (value: unknown) => {
  const text = value === undefined ? '' : String(value);
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
};

/** Admin API under /api/enrollment-insights: the funnel, the failures (JSON and CSV) and one attempt. */
export function mountInsightsRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: { records: AttemptRecords; counters: DailyCounters },
): void {
  const api = adminApi(router, ctx, { tags: ['enrollment-insights'] });

  api.get(
    '/funnel',
    {
      scope: 'devices:read',
      summary: 'Enrollment funnel: attempts per step, conversion between steps, a daily series and failures by reason',
      description: 'Read from daily counters (UTC days); steps recorded in the last sweep interval may not be in yet.',
      query: rangeQuery,
      responses: { 200: { description: 'The funnel', schema: funnelSchema }, 400: { description: 'Bad range' } },
    },
    async (koa, { query }) => {
      koa.body = await funnelReport(deps.counters, checkedRange(query));
    },
  );

  const filterOf = (query: z.output<typeof failureQuery>): FailureFilter => ({
    from: query.from,
    to: query.to,
    reason: query.reason,
    user: query.user,
    profileId: query.profileId,
    groupId: query.groupId,
    osVersion: query.osVersion,
  });

  api.get(
    '/failures',
    {
      scope: 'devices:read',
      summary: 'Failed enrollment attempts, newest first, with the reason and its remediation',
      query: failureQuery,
      responses: {
        200: { description: 'Failures', schema: pageOf(failureSchema) },
        400: { description: 'Bad filter' },
      },
    },
    async (koa, { query }) => {
      const position = query.cursor ? decodeCursor(query.cursor, cursorSchema) : undefined;
      const before = position ? { at: new Date(position.at), id: position.id } : undefined;
      const page = await listFailures(deps.records, filterOf(query), query.limit, before);
      koa.body = {
        items: page.items,
        nextCursor: page.last ? encodeCursor({ at: page.last.at.toISOString(), id: page.last.id }) : null,
      };
    },
  );

  api.get(
    '/failures.csv',
    {
      scope: 'devices:read',
      summary: `The same failures as CSV (at most ${CSV_ROWS} rows, newest first), for spreadsheets`,
      query: failureQuery.omit({ limit: true, cursor: true }),
      responses: { 200: { description: 'CSV with a header row', schema: z.string(), contentType: 'text/csv' } },
    },
    async (koa, { query }) => {
      const { items } = await listFailures(deps.records, filterOf({ ...query, limit: CSV_ROWS }), CSV_ROWS);
      koa.set('Content-Disposition', 'attachment; filename="enrollment-failures.csv"');
      koa.type = 'text/csv; charset=utf-8';
      koa.body = stringify(
        items.map((item) => CSV_COLUMNS.map((column) => cell(item[column]))),
        { header: true, columns: CSV_COLUMNS },
      );
    },
  );

  api.get(
    '/reasons',
    {
      scope: 'devices:read',
      summary: 'Every failure reason with its label, the remediation for admins and what device users are told',
      responses: {
        200: {
          description: 'Reasons',
          schema: z.object({
            items: z.array(
              z.object({ reason: reasonSchema, label: z.string(), remediation: z.string(), user: z.string() }),
            ),
          }),
        },
      },
    },
    async (koa) => {
      koa.body = { items: ENROLLMENT_FAILURE_REASONS.map((reason) => ({ reason, ...REASONS[reason] })) };
    },
  );

  api.get(
    '/attempts/:attemptId',
    {
      scope: 'devices:read',
      summary: 'One attempt with each step it passed and where it stopped',
      params: z.object({ attemptId: z.string().min(1).max(100) }),
      responses: {
        200: { description: 'The attempt', schema: attemptSchema },
        404: { description: 'Unknown attempt' },
      },
    },
    async (koa, { params }) => {
      const attempt = await deps.records.attempt(params.attemptId);
      if (!attempt) throw new NotFoundProblem('no such enrollment attempt');
      const [steps, failure] = await Promise.all([
        deps.records.stepsOf(attempt._id),
        deps.records.failure(attempt._id),
      ]);
      const { _id, startedAt, groups: _groups, ...rest } = attempt;
      koa.body = {
        attemptId: _id,
        startedAt: startedAt.toISOString(),
        ...rest,
        steps: steps.map((s) => ({
          step: s.step,
          outcome: s.outcome,
          at: s.at.toISOString(),
          ...(s.reason ? { reason: s.reason } : {}),
        })),
        ...(failure ? { failure: failureItem(failure) } : {}),
      };
    },
  );
}
