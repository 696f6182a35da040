import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { PushOutcome } from '../provider/index.js';
import type { ApnsConfig } from './config.js';
import type { PushFailureLog } from './failure-log.js';
import type { ApnsMetrics } from './metrics.js';
import type { DevicePushOutcome, PushFailureReason, PushOutcomeStore, PushStatsWindow } from './outcome-storage.js';
import type { ApnsProvider } from './provider.js';
import type { PushJobData, PushScheduler } from './push-queue.js';
import type { PushTargets, ResolvedTarget } from './targets.js';
import type { PushControl, WakeLedger } from './wake-ledger.js';

export interface BatchSummary {
  claimed: number;
  sent: number;
  invalidToken: number;
  throttled: number;
  retryLater: number;
  rejected: number;
  certificateProblem: number;
  noTarget: number;
  topicMismatch: number;
}

export interface PushWorkerDeps {
  ledger: WakeLedger;
  scheduler: PushScheduler;
  targets: PushTargets;
  provider: ApnsProvider;
  control: PushControl;
  metrics: ApnsMetrics;
  /** The last outcome per device (device page) and the cluster-wide recent counts (certificate page, checklist). */
  outcomes: PushOutcomeStore;
  stats: PushStatsWindow;
  failureLog: PushFailureLog;
  logger: Logger;
  config: ApnsConfig;
  /** Stops every worker from taking push jobs (BullMQ queue pause, cluster-wide). */
  pauseQueue(): Promise<void>;
}

const emptySummary = (): BatchSummary => ({
  claimed: 0,
  sent: 0,
  invalidToken: 0,
  throttled: 0,
  retryLater: 0,
  rejected: 0,
  certificateProblem: 0,
  noTarget: 0,
  topicMismatch: 0,
});

/**
 * The processor of the push queue. One job: finish what a dead predecessor of this job left in flight, claim a
 * batch of due devices, look their tokens up in one query, send them all concurrently (the client multiplexes
 * them over its HTTP/2 connections), and act on each outcome.
 */
export class PushWorker {
  constructor(private readonly deps: PushWorkerDeps) {}

  async process(job: Job<PushJobData>): Promise<BatchSummary> {
    const { ledger, scheduler, config } = this.deps;
    const jobId = String(job.id);
    const summary = emptySummary();
    try {
      const leftovers = await ledger.leftovers(jobId);
      if (leftovers.length > 0) {
        this.deps.logger.info({ jobId, devices: leftovers.length }, 'resuming a push batch a stopped worker left');
        await this.sendBatch(leftovers, summary);
        await ledger.finish(jobId);
      }
      const claimed = await ledger.claim(jobId, Date.now(), config.batchSize);
      if (claimed.length === config.batchSize) await scheduler.more();
      if (claimed.length > 0) {
        await this.sendBatch(claimed, summary);
        await ledger.finish(jobId);
      }
    } catch (error) {
      // Put the claimed devices back before BullMQ retries the job, so a failure here never drops a push.
      const stranded = await ledger.leftovers(jobId);
      if (stranded.length > 0) {
        const due = Date.now() + config.requeueDelaySeconds * 1000;
        await ledger.add(stranded, due);
        await ledger.finish(jobId);
        await scheduler.flushAt(due, 'retry');
      }
      throw error;
    }
    const next = await ledger.earliestDue();
    if (next !== undefined) await scheduler.flushAt(next, 'retry');
    this.deps.metrics.waiting.set(await ledger.pendingCount());
    return summary;
  }

  /** Sends one batch, then records every device's outcome: stored, counted, and logged when it failed. */
  private async sendBatch(deviceIds: string[], summary: BatchSummary): Promise<void> {
    const outcomes: DevicePushOutcome[] = [];
    try {
      await this.deliver(deviceIds, summary, outcomes);
    } finally {
      const { metrics, failureLog, stats } = this.deps;
      const failures = outcomes.filter((o) => o.result === 'failed');
      for (const failure of failures) metrics.failed.inc({ reason: failure.reason as string });
      failureLog.record(failures);
      const now = new Date();
      await Promise.all([this.deps.outcomes.record(outcomes, now), stats.add(outcomes, now)]);
    }
  }

  private async deliver(deviceIds: string[], summary: BatchSummary, outcomes: DevicePushOutcome[]): Promise<void> {
    const { targets, provider, metrics, config, logger } = this.deps;
    const failed = (deviceId: string, reason: PushFailureReason, detail?: string, status?: number) =>
      outcomes.push({ deviceId, result: 'failed', reason, detail, status });
    summary.claimed += deviceIds.length;
    const resolved = await targets.get(deviceIds);
    if (resolved.length < deviceIds.length) {
      // No token on record, or it was marked invalid: nothing to send until the next TokenUpdate.
      const found = new Set(resolved.map((r) => r.target.deviceId));
      for (const id of deviceIds.filter((d) => !found.has(d))) {
        summary.noTarget++;
        failed(id, 'no-target', 'no push token on record (or APNs said it is invalid)');
      }
    }
    if (resolved.length === 0) return;
    const connected = await provider.current();
    const now = Date.now();
    if (!connected || connected.notAfter.getTime() <= now) {
      const reason = connected ? 'the push certificate has expired' : 'no push certificate is installed';
      summary.certificateProblem += resolved.length;
      for (const r of resolved) failed(r.target.deviceId, 'certificate', reason);
      await this.certificateProblem(
        reason,
        resolved.map((r) => r.target.deviceId),
      );
      return;
    }
    const sendable: ResolvedTarget[] = [];
    for (const entry of resolved) {
      if (entry.target.topic === connected.topic) sendable.push(entry);
      else {
        summary.topicMismatch++;
        failed(entry.target.deviceId, 'topic-mismatch', `enrolled under ${entry.target.topic}, not ${connected.topic}`);
      }
    }
    if (sendable.length < resolved.length) {
      // Enrolled under another certificate's topic (replaced on purpose): APNs would refuse it for this one.
      logger.warn(
        { devices: resolved.length - sendable.length, topic: connected.topic },
        'devices enrolled under another push topic cannot be woken; they must re-enroll',
      );
    }

    const certificateRefused: string[] = [];
    let certificateReason = '';
    const retryLater: string[] = [];
    const throttled: { deviceId: string; dueMs: number }[] = [];
    const retry = {
      maxAttempts: config.sendAttempts,
      baseDelayMs: config.retryBaseDelayMs,
      maxDelayMs: config.retryMaxDelayMs,
    };
    await Promise.all(
      sendable.map(async ({ target, store }) => {
        const started = performance.now();
        let outcome: PushOutcome;
        try {
          outcome = await connected.client.sendWithRetry(
            { token: target.token, pushMagic: target.pushMagic, topic: target.topic },
            retry,
          );
        } catch (error) {
          // The client was replaced (new certificate) or closed while this push waited.
          outcome = { kind: 'retryable', reason: (error as Error).message };
        }
        metrics.latency.observe((performance.now() - started) / 1000);
        const deviceId = target.deviceId;
        switch (outcome.kind) {
          case 'sent':
            summary.sent++;
            metrics.sent.inc();
            outcomes.push({ deviceId, result: 'sent' });
            return;
          case 'invalid-token':
            summary.invalidToken++;
            failed(deviceId, 'invalid-token', outcome.reason);
            await store.markInvalid(deviceId, target.token, outcome.reason);
            return;
          case 'certificate-problem':
            summary.certificateProblem++;
            failed(deviceId, 'certificate', outcome.reason);
            certificateRefused.push(deviceId);
            if (certificateRefused.length === 1) certificateReason = outcome.reason;
            return;
          case 'throttled':
            summary.throttled++;
            failed(deviceId, 'throttled', `APNs asked to wait ${Math.round(outcome.retryAfterMs / 1000)} s`, 429);
            throttled.push({ deviceId, dueMs: Date.now() + outcome.retryAfterMs });
            return;
          case 'retryable':
            summary.retryLater++;
            failed(deviceId, 'retryable', outcome.reason);
            retryLater.push(deviceId);
            return;
          case 'rejected':
            summary.rejected++;
            failed(deviceId, 'rejected', outcome.reason, outcome.status);
            return;
        }
      }),
    );

    const { ledger, scheduler } = this.deps;
    for (const { deviceId, dueMs } of throttled) {
      // 429 is about this device: only it waits, for as long as APNs asked.
      await ledger.add([deviceId], dueMs, 'replace');
      await scheduler.flushAt(dueMs, 'retry');
    }
    if (retryLater.length > 0) {
      const due = Date.now() + config.requeueDelaySeconds * 1000;
      await ledger.add(retryLater, due);
      await scheduler.flushAt(due, 'retry');
    }
    if (certificateRefused.length > 0) {
      await this.certificateProblem(`APNs refused the certificate: ${certificateReason}`, certificateRefused);
    }
  }

  /** Alert, stop all sending, and keep the devices waiting so they are pushed once a good certificate is in. */
  private async certificateProblem(reason: string, deviceIds: string[]): Promise<void> {
    const { metrics, logger, control, ledger, scheduler } = this.deps;
    metrics.alerts.inc({ kind: 'certificate' });
    logger.error(
      { reason, devices: deviceIds.length },
      'APNs push certificate problem: sending is paused until a valid certificate is installed',
    );
    await control.pause(reason);
    await this.deps.pauseQueue();
    const due = Date.now() + scheduler.window;
    await ledger.add(deviceIds, due);
    await scheduler.flushAt(due, 'resume');
  }
}
