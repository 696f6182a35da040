import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { PushOutcome } from '../provider/index.js';
import type { ApnsConfig } from './config.js';
import type { ApnsMetrics } from './metrics.js';
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

  private async sendBatch(deviceIds: string[], summary: BatchSummary): Promise<void> {
    const { targets, provider, metrics, config, logger } = this.deps;
    summary.claimed += deviceIds.length;
    const resolved = await targets.get(deviceIds);
    const noTarget = deviceIds.length - resolved.length;
    if (noTarget > 0) {
      // No token on record, or it was marked invalid: nothing to send until the next TokenUpdate.
      summary.noTarget += noTarget;
      metrics.failed.inc({ reason: 'no-target' }, noTarget);
    }
    if (resolved.length === 0) return;
    const connected = await provider.current();
    const now = Date.now();
    if (!connected || connected.notAfter.getTime() <= now) {
      const reason = connected ? 'the push certificate has expired' : 'no push certificate is installed';
      summary.certificateProblem += resolved.length;
      await this.certificateProblem(
        reason,
        resolved.map((r) => r.target.deviceId),
      );
      return;
    }
    const sendable: ResolvedTarget[] = [];
    for (const entry of resolved) {
      if (entry.target.topic === connected.topic) sendable.push(entry);
      else summary.topicMismatch++;
    }
    // summary is the job's running total (a job may send two batches); this batch's count is the difference.
    if (sendable.length < resolved.length) {
      // Enrolled under another certificate's topic (replaced on purpose): APNs would refuse it for this one.
      metrics.failed.inc({ reason: 'topic-mismatch' }, resolved.length - sendable.length);
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
        switch (outcome.kind) {
          case 'sent':
            summary.sent++;
            metrics.sent.inc();
            return;
          case 'invalid-token':
            summary.invalidToken++;
            metrics.failed.inc({ reason: 'invalid-token' });
            await store.markInvalid(target.deviceId, target.token, outcome.reason);
            return;
          case 'certificate-problem':
            summary.certificateProblem++;
            metrics.failed.inc({ reason: 'certificate' });
            certificateRefused.push(target.deviceId);
            if (certificateRefused.length === 1) certificateReason = outcome.reason;
            return;
          case 'throttled':
            summary.throttled++;
            metrics.failed.inc({ reason: 'throttled' });
            throttled.push({ deviceId: target.deviceId, dueMs: Date.now() + outcome.retryAfterMs });
            return;
          case 'retryable':
            summary.retryLater++;
            metrics.failed.inc({ reason: 'retryable' });
            retryLater.push(target.deviceId);
            return;
          case 'rejected':
            summary.rejected++;
            metrics.failed.inc({ reason: 'rejected' });
            logger.warn(
              { deviceId: target.deviceId, status: outcome.status, reason: outcome.reason },
              'APNs rejected a push',
            );
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
