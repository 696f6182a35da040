import {
  definePlugin,
  deviceReadinessRef,
  enrollmentAttemptsRef,
  enrollmentSessionsRef,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { type InsightsConfig, insightsConfigSchema } from './src/config.js';
import { REASONS } from './src/reasons.js';
import { AttemptNotLinkedError, AttemptRecorder } from './src/recorder.js';
import { mountInsightsRoutes } from './src/routes.js';
import { AttemptRecords } from './src/storage/attempt-records.js';
import { DailyCounters } from './src/storage/daily-counters.js';
import { runSweep } from './src/sweep.js';

const SWEEP_QUEUE = 'enrollment-insights-sweep';
const SWEEP_SCHEDULER = 'enrollment-insights-sweep';
/** Deliveries of a step whose session is not linked to a portal attempt yet, before it counts as its own attempt. */
const LINK_WAIT_DELIVERIES = 3;

function buildServices(ctx: PluginContext<InsightsConfig>) {
  const records = new AttemptRecords(ctx.mongo);
  const counters = new DailyCounters(ctx.mongo, records, ctx.redis, `${ctx.redisKeyPrefix}rollup-lock`);
  return { records, counters, recorder: new AttemptRecorder(records) };
}

/**
 * Enrollment attempts and the funnel: records every `enrollment.step` (portal, mdm) and `device.enrolled` as
 * insert-only step records, finishes attempts no event announces in a sweep, keeps daily counters for the
 * report, and serves the report, the failures (JSON, CSV) and each user's latest attempt (the portal's help).
 */
export default definePlugin({
  name: 'enrollment-insights',
  version: '1.0.0',
  coreApi: '^2.13.0',
  description: 'Enrollment attempts, the funnel and failure reasons for admins and device users',
  dependsOn: ['mdm'],
  optionalDependsOn: ['admin-access', 'jit-registration'],
  config: insightsConfigSchema,
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<InsightsConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };

    api.on('enrollment.step', async (event, ctx, meta) => {
      const { recorder } = services(ctx);
      try {
        const attemptId = await recorder.attemptOf(event, meta.attempt >= LINK_WAIT_DELIVERIES);
        if (attemptId) await recorder.record({ ...event, attemptId });
      } catch (error) {
        // Thrown so the delivery is tried again once the portal's step has linked the session.
        if (error instanceof AttemptNotLinkedError)
          ctx.logger.debug({ enrollmentId: event.enrollmentId }, error.message);
        throw error;
      }
    });

    api.on('device.enrolled', async (event, ctx, meta) => {
      if (!event.enrollmentId) return;
      const { recorder } = services(ctx);
      const step = { enrollmentId: event.enrollmentId, step: 'token-updated' as const, outcome: 'passed' as const };
      const attemptId = await recorder.attemptOf(step, meta.attempt >= LINK_WAIT_DELIVERIES);
      if (attemptId)
        await recorder.record({
          ...step,
          attemptId,
          at: meta.recordedAt,
          deviceId: event.deviceId,
          ...(event.userId ? { userId: event.userId } : {}),
        });
    });

    api.provide(enrollmentAttemptsRef, (ctx) => ({
      async latestFor(userId) {
        const { records } = services(ctx);
        const attempt = await records.latestAttemptOf(userId);
        if (!attempt) return undefined;
        const [steps, failure] = await Promise.all([records.stepsOf(attempt._id), records.failure(attempt._id)]);
        const passed = steps.filter((s) => s.outcome === 'passed');
        return {
          attemptId: attempt._id,
          startedAt: attempt.startedAt,
          ...(passed.length ? { lastStep: passed.at(-1)?.step } : {}),
          ...(failure
            ? {
                failure: {
                  reason: failure.reason,
                  at: failure.at,
                  ...(failure.vetoedBy ? { vetoedBy: failure.vetoedBy } : {}),
                },
              }
            : {}),
          completed: passed.some((s) => s.step === 'ready'),
        };
      },
      userExplanation: (reason) => REASONS[reason].user,
    }));

    api.queue<{ kind: 'sweep' }>({
      name: SWEEP_QUEUE,
      concurrency: 1,
      processor: async (_job, ctx) => {
        const { records, counters, recorder } = services(ctx);
        await runSweep({
          records,
          counters,
          recorder,
          sessions: () => ctx.resolve(enrollmentSessionsRef),
          readiness: () => ctx.tryResolve(deviceReadinessRef),
          retentionDays: ctx.config.retentionDays,
          readinessWaitMinutes: ctx.config.readinessWaitMinutes,
          installGraceSeconds: ctx.config.installGraceSeconds,
          claimPrune: async () =>
            (await ctx.redis.set(`${ctx.redisKeyPrefix}prune-claim`, '1', 'EX', 3600, 'NX')) === 'OK',
          logger: ctx.logger,
        });
      },
    });

    api.routes({
      prefix: '/api/enrollment-insights',
      mount: (router, ctx) => mountInsightsRoutes(router, ctx, services(ctx)),
    });

    api.onStart(async (ctx) => {
      await services(ctx).records.ensureIndexes();
      await ctx
        .queue<{ kind: 'sweep' }>(SWEEP_QUEUE)
        .queue.upsertJobScheduler(
          SWEEP_SCHEDULER,
          { every: ctx.config.sweepIntervalMs },
          { name: 'sweep', data: { kind: 'sweep' }, opts: { removeOnComplete: true, removeOnFail: 100 } },
        );
    });
  },
});
