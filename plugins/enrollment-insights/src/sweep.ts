import type { DeviceReadinessService, EnrollmentSessionService, EnrollmentStep } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import type { AttemptRecorder } from './recorder.js';
import type { AttemptRecords, OpenDoc } from './storage/attempt-records.js';
import { type DailyCounters, dayOf } from './storage/daily-counters.js';

const OPEN_PER_SWEEP = 500;
const PRUNE_PER_SWEEP = 5_000;

/** Session states that end in "not installed in time" (or an unused link) once the session expires. */
const UNFINISHED: string[] = ['issued', 'downloaded', 'certificate-issued', 'expired'];

export interface SweepDeps {
  records: AttemptRecords;
  counters: DailyCounters;
  recorder: AttemptRecorder;
  sessions: () => EnrollmentSessionService;
  readiness: () => DeviceReadinessService | undefined;
  retentionDays: number;
  readinessWaitMinutes: number;
  installGraceSeconds: number;
  /** True at most once an hour across replicas (a Redis SET NX with a TTL). */
  claimPrune: () => Promise<boolean>;
  logger: Pick<Logger, 'info'>;
}

/**
 * The insights sweep (a repeatable job in the work role, never the device path): folds new steps into the daily
 * counts, finishes attempts whose outcome no event announces (not installed in time, Authenticator, ready) by
 * reading the session and readiness services, and deletes what is older than the retention.
 */
export async function runSweep(deps: SweepDeps, now = new Date()): Promise<void> {
  for (const open of await deps.records.openAttempts(OPEN_PER_SWEEP)) await followOpen(deps, open, now);
  await deps.counters.rollup();
  // Pruning reads whole collections (FerretDB uses no index): once an hour is enough for a retention in days.
  if (!(await deps.claimPrune())) return;
  const cutoff = new Date(now.getTime() - deps.retentionDays * 86_400_000);
  const pruned =
    (await deps.records.prune(cutoff, PRUNE_PER_SWEEP)) + (await deps.counters.prune(dayOf(cutoff), PRUNE_PER_SWEEP));
  if (pruned > 0) deps.logger.info({ pruned }, 'enrollment attempts past their retention deleted');
}

async function followOpen(deps: SweepDeps, open: OpenDoc, now: Date): Promise<void> {
  const { records, recorder } = deps;
  const session = await deps.sessions().get(open.enrollmentId);
  if (!session || session.state === 'cancelled') {
    // A cancellation is recorded by whoever cancelled (the portal); nothing more will happen to this session.
    await records.closeOpen(open._id);
    return;
  }
  if (UNFINISHED.includes(session.state)) {
    // The device may still be mid-install (or the user about to click the link): the grace lets the request
    // that would tell (a refused challenge, an expired link) come first.
    if (session.expiresAt.getTime() + deps.installGraceSeconds * 1000 > now.getTime()) return;
    const downloaded = await records.step(`${open._id}:profile-downloaded`);
    const step: EnrollmentStep =
      session.state === 'certificate-issued' ? 'authenticated' : downloaded ? 'identity-issued' : 'profile-downloaded';
    await recorder.sweepStep(open, step, downloaded ? 'not-installed' : 'link-expired');
    return;
  }
  if (session.state !== 'enrolled') return;
  const readiness = deps.readiness();
  if (!readiness || !session.deviceId) {
    // Without just-in-time registration an enrolled device is ready for work.
    await recorder.sweepStep(open, 'ready', undefined, session.deviceId ? { deviceId: session.deviceId } : {});
    return;
  }
  const state = await readiness.get(session.deviceId);
  const device = { deviceId: session.deviceId };
  const appInstalled = state?.steps.some((step) => step.name === 'install-app' && step.state === 'done');
  if (appInstalled || state?.state === 'ready')
    await recorder.sweepStep(open, 'authenticator-installed', undefined, device);
  if (state?.state === 'ready') await recorder.sweepStep(open, 'ready', undefined, device);
  else if (state?.state === 'needs-attention') {
    const failed = state.steps.find((step) => step.state === 'failed');
    await recorder.sweepStep(open, appInstalled ? 'ready' : 'authenticator-installed', 'authenticator-failed', {
      ...device,
      ...(failed?.detail ? { detail: `${failed.name}: ${failed.detail}` } : {}),
    });
  } else if (open.at.getTime() + deps.readinessWaitMinutes * 60_000 <= now.getTime()) {
    await records.closeOpen(open._id);
  }
}
