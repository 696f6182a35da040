/**
 * The enrollment funnel report with many attempts recorded:
 *   npm run bench -- funnel [--attempts 100000] [--days 30] [--samples 30]
 * Seeds `attempts` attempts over `days` days (5 profiles, 20 groups, each attempt going as far as a realistic
 * funnel lets it, the rest stopping with a reason) straight into enrollment-insights' collections, in the shapes
 * its recorder writes, with every step pending. Then the plugin's own sweep job folds them into the daily
 * counters (timed), and the admin API is asked, over HTTP, for the funnel (all, one profile, one group), the
 * first page of failures (all, one reason) and the CSV. Side by side, in the same run: the funnel counted by
 * scanning the step records instead (what the counters avoid; FerretDB uses no index).
 */
import { ENROLLMENT_STEPS } from 'enrollment-gateway/sdk';
import { adminHeaders, testAdminTokens } from '../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../test/support/gateway.js';
import { servicesForHarness, stopLocalServices } from '../lib/local-services.js';
import { option, percentiles } from './_stats.js';

const STEPS = ENROLLMENT_STEPS;
/** Share of attempts that pass each step, and why the others stop there. */
const PASS = [1, 0.97, 0.9, 0.88, 0.8, 0.76, 0.74, 0.73, 0.7, 0.68];
const REASON_AT = [
  'user-cancelled',
  'os-too-old',
  'no-profile',
  'vetoed',
  'link-expired',
  'challenge-refused',
  'identity-refused',
  'not-installed',
  'authenticator-failed',
  'authenticator-failed',
];
const PROFILES = 5;
const GROUPS = 20;
const INSERT_BATCH = 5_000;

/** A deterministic fraction in [0, 1) for attempt i. */
const fraction = (i: number) => ((i * 2654435761) % 2 ** 32) / 2 ** 32;

type Doc = Record<string, unknown> & { _id: string };

function attemptDocs(i: number, day: number, now: number) {
  const id = `bench-${String(i).padStart(7, '0')}`;
  const startedAt = new Date(now - day * 86_400_000 - (i % 3600) * 1000);
  const profileId = `profile-${i % PROFILES}`;
  const groups = [`group-${i % GROUPS}`, `group-${(i * 7 + 3) % GROUPS}`];
  const userId = `user-${i % 40_000}`;
  const osVersion = `${15 + (i % 4)}.${i % 6}`;
  const attempt: Doc = {
    _id: id,
    startedAt,
    userId,
    userName: `${userId}@example.test`,
    profileId,
    groups,
    platform: 'iOS',
    osVersion,
  };
  const steps: Doc[] = [];
  const pending: Doc[] = [];
  let failure: Doc | undefined;
  const roll = fraction(i);
  for (let s = 0; s < STEPS.length; s++) {
    const at = new Date(startedAt.getTime() + s * 1000);
    const stepId = `${id}:${STEPS[s]}`;
    if (roll < PASS[s]) {
      steps.push({ _id: stepId, attemptId: id, step: STEPS[s], outcome: 'passed', at });
      pending.push({ _id: stepId, at, step: STEPS[s], outcome: 'passed', profileId, groups });
      continue;
    }
    const reason = REASON_AT[s];
    steps.push({ _id: stepId, attemptId: id, step: STEPS[s], outcome: 'failed', reason, at });
    pending.push({ _id: stepId, at, step: STEPS[s], outcome: 'failed', reason, profileId, groups });
    failure = {
      _id: id,
      at,
      step: STEPS[s],
      reason,
      userId,
      userName: `${userId}@example.test`,
      profileId,
      platform: 'iOS',
      osVersion,
      groups,
    };
    break;
  }
  return { attempt, steps, pending, failure };
}

/** Seeds day by day, oldest first, running the plugin's sweep after each day as it runs every minute in production. */
async function seed(gw: TestGateway, attempts: number, days: number) {
  const context = gw.gateway.context('enrollment-insights');
  const mongo = context.mongo;
  const now = Date.now();
  let steps = 0;
  let failures = 0;
  let insertMs = 0;
  let rollupMs = 0;
  const perDay = Math.ceil(attempts / days);
  for (let day = days - 1; day >= 0; day--) {
    const batch: Record<string, Doc[]> = {
      insights_attempts: [],
      insights_steps: [],
      insights_pending: [],
      insights_failures: [],
    };
    for (let i = day * perDay; i < Math.min(attempts, (day + 1) * perDay); i++) {
      const docs = attemptDocs(i, day, now);
      batch.insights_attempts.push(docs.attempt);
      batch.insights_steps.push(...docs.steps);
      batch.insights_pending.push(...docs.pending);
      steps += docs.steps.length;
      if (docs.failure) {
        batch.insights_failures.push(docs.failure);
        failures++;
      }
    }
    const inserting = performance.now();
    for (const [name, docs] of Object.entries(batch))
      for (let from = 0; from < docs.length; from += INSERT_BATCH)
        await mongo.collection<Doc>(name).insertMany(docs.slice(from, from + INSERT_BATCH), { ordered: false });
    const folding = performance.now();
    insertMs += folding - inserting;
    await sweepUntilFolded(gw);
    rollupMs += performance.now() - folding;
    if (day % 10 === 0) console.log(`  ${days - day} of ${days} days seeded and folded (${steps} steps)`);
  }
  return { steps, failures, seedSeconds: insertMs / 1000, rollupSeconds: rollupMs / 1000 };
}

/** Runs the insights sweep job until no step is pending; a failed sweep stops the bench with its reason. */
async function sweepUntilFolded(gw: TestGateway): Promise<void> {
  const context = gw.gateway.context('enrollment-insights');
  const pending = context.mongo.collection('insights_pending');
  const queue = context.queue('enrollment-insights-sweep');
  const started = performance.now();
  let reported = started;
  while ((await pending.countDocuments({}, { limit: 1 })) > 0) {
    const [failed] = await queue.queue.getFailed(0, 0);
    if (failed) throw new Error(`the sweep failed: ${failed.failedReason}`);
    if ((await queue.queue.getActiveCount()) + (await queue.queue.getWaitingCount()) === 0)
      await queue.add('sweep', { kind: 'sweep' });
    if (performance.now() - started > 10 * 60_000) throw new Error('the sweep did not fold every step in');
    if (performance.now() - reported > 30_000) {
      reported = performance.now();
      console.log(`  still folding: ${await pending.countDocuments({})} steps pending`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function timed(gw: TestGateway, path: string, samples: number) {
  const durations: number[] = [];
  let bytes = 0;
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const res = await gw.fetch(path, { headers: adminHeaders() });
    const body = await res.text();
    durations.push(performance.now() - started);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body}`);
    bytes = body.length;
  }
  return { ...percentiles(durations), bytes };
}

/** The funnel counted from the step records themselves, as a report without counters would. */
async function scanFunnel(gw: TestGateway, days: number): Promise<Record<string, number>> {
  const since = new Date(Date.now() - days * 86_400_000);
  const counts: Record<string, number> = {};
  const cursor = gw.gateway
    .context('enrollment-insights')
    .mongo.collection<Doc>('insights_steps')
    .find({ at: { $gte: since }, outcome: 'passed' }, { projection: { step: 1 } });
  for await (const doc of cursor) counts[String(doc.step)] = (counts[String(doc.step)] ?? 0) + 1;
  return counts;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const attempts = option(args, 'attempts', 100_000);
  const days = option(args, 'days', 30);
  const samples = option(args, 'samples', 30);
  await servicesForHarness();
  const gw = await startTestGateway({
    label: 'benchfunnel',
    enable: ['admin-access', 'mdm', 'enrollment-insights'],
    plugins: [testAdminTokens],
    // The sweep runs when the bench asks for it.
    config: { plugins: { 'enrollment-insights': { sweepIntervalMs: 3_600_000 } } },
  });
  try {
    console.log(`seeding ${attempts} attempts over ${days} days, the sweep folding each day in…`);
    const seeded = await seed(gw, attempts, days);
    const counterDocs = await gw.gateway
      .context('enrollment-insights')
      .mongo.collection('insights_daily')
      .countDocuments();
    console.log(
      `inserted ${seeded.steps} steps and ${seeded.failures} failures in ${seeded.seedSeconds.toFixed(1)} s; the sweep folded them into ${counterDocs} daily counters in ${seeded.rollupSeconds.toFixed(1)} s`,
    );

    const base = '/api/enrollment-insights';
    const funnelAll = await timed(gw, `${base}/funnel`, samples);
    const funnelProfile = await timed(gw, `${base}/funnel?profileId=profile-1`, samples);
    const funnelGroup = await timed(gw, `${base}/funnel?profileId=profile-2&groupId=group-5`, samples);
    const failuresPage = await timed(gw, `${base}/failures?limit=50`, Math.min(samples, 5));
    const failuresReason = await timed(gw, `${base}/failures?limit=50&reason=vetoed`, Math.min(samples, 5));
    const failuresGroup = await timed(gw, `${base}/failures?limit=50&groupId=group-5`, Math.min(samples, 5));
    const csv = await timed(gw, `${base}/failures.csv?reason=not-installed`, 1);
    const report = (await (await gw.fetch(`${base}/funnel`, { headers: adminHeaders() })).json()) as {
      steps: { step: string; count: number }[];
    };
    const scanDurations: number[] = [];
    let scanned: Record<string, number> = {};
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      scanned = await scanFunnel(gw, days);
      scanDurations.push(performance.now() - started);
    }
    const scan = percentiles(scanDurations);
    const agree = report.steps.every((s) => (scanned[s.step] ?? 0) === s.count);
    console.log(
      `funnel from counters: p50 ${funnelAll.p50} ms, p99 ${funnelAll.p99} ms; by scanning the steps: p50 ${scan.p50} ms (${(scan.p50 / funnelAll.p50).toFixed(0)}×); same counts: ${agree}`,
    );
    console.log(
      `failures page: p50 ${failuresPage.p50} ms; by reason: p50 ${failuresReason.p50} ms; by group: p50 ${failuresGroup.p50} ms; CSV: ${csv.p50} ms (${csv.bytes} bytes)`,
    );
    return {
      attempts,
      days,
      steps: seeded.steps,
      failures: seeded.failures,
      counterDocs,
      seedSeconds: +seeded.seedSeconds.toFixed(1),
      rollupSeconds: +seeded.rollupSeconds.toFixed(1),
      rollupStepsPerSecond: Math.round(seeded.steps / seeded.rollupSeconds),
      funnelMs: funnelAll,
      funnelByProfileMs: funnelProfile,
      funnelByProfileAndGroupMs: funnelGroup,
      failuresPageMs: failuresPage,
      failuresByReasonMs: failuresReason,
      failuresByGroupMs: failuresGroup,
      csvMs: csv,
      scanFunnelMs: scan,
      scanOverCountersP50: +(scan.p50 / funnelAll.p50).toFixed(1),
      countersAgreeWithScan: agree,
    };
  } finally {
    await gw.stop();
    stopLocalServices();
  }
}
