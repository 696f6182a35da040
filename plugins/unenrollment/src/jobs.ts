import type { JobsOptions } from 'bullmq';
import type { QueueHandle } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import type { UnenrollmentConfig } from './config.js';

export const UNENROLL_QUEUE = 'unenroll';
export const MAINTENANCE_QUEUE = 'unenroll-maintenance';
export const SWEEP_SCHEDULER = 'unenroll-sweep';
export const INACTIVITY_SCHEDULER = 'unenroll-inactivity';

export interface UnenrollJob {
  deviceId: string;
  /** Absent in jobs queued by 1.0, which were one per device. */
  unenrollmentId?: string;
}
export interface MaintenanceJob {
  kind: 'sweep' | 'inactivity';
}

/** BullMQ refuses ':' in custom job ids; unenrollment ids are "<deviceId>:<enrollmentId>". */
export const jobIdFor = (unenrollmentId: string) => unenrollmentId.replaceAll(':', '_');

/**
 * The BullMQ side: one durable "unenroll" job per unenrollment (job id from the unenrollment id) that takes it
 * to the end. The unenrollment is stored before its job is queued, so a job that exists always sees it: "a job
 * is there, it will handle it" holds (one job per device could already have made its last read and be about to
 * complete). Redis holds only this wake-up; the truth is in MongoDB, so a lost job is simply queued again (by
 * the next request, or by the sweep).
 */
export class JobControl {
  constructor(
    private readonly handle: () => QueueHandle<UnenrollJob>,
    private readonly maintenance: () => QueueHandle<MaintenanceJob>,
    private readonly config: UnenrollmentConfig,
    private readonly logger: Logger,
  ) {}

  private options(unenrollmentId: string): JobsOptions {
    return {
      jobId: jobIdFor(unenrollmentId),
      attempts: this.config.retryAttempts,
      backoff: { type: 'exponential', delay: this.config.retryBackoffMs },
      // Finished jobs go, so the sweep can queue an unfinished unenrollment again under the same id.
      removeOnComplete: true,
      removeOnFail: true,
    };
  }

  /** Queues the unenrollment's job unless one is waiting, delayed or running; true when it had to be queued. */
  async ensure(unenrollmentId: string, deviceId: string): Promise<boolean> {
    const queue = this.handle().queue;
    const existing = await queue.getJob(jobIdFor(unenrollmentId));
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return false;
      await existing.remove().catch(() => undefined);
    }
    await this.handle().add('unenroll', { deviceId, unenrollmentId }, this.options(unenrollmentId));
    return true;
  }

  /** Runs a waiting job now instead of at its next poll (an answer or a CheckOut arrived). */
  async wake(unenrollmentId: string): Promise<void> {
    const job = await this.handle().queue.getJob(jobIdFor(unenrollmentId));
    if (!job || !(await job.isDelayed())) return;
    // It may have started in between; then it reads the news itself.
    await job.promote().catch(() => undefined);
  }

  /**
   * Makes sure the repeatable maintenance jobs exist. Called at start and then every sweep interval: a Redis that
   * restarted without persistence forgets job schedulers too.
   */
  async ensureSchedulers(): Promise<void> {
    const queue = this.maintenance().queue;
    if (!(await queue.getJobScheduler(SWEEP_SCHEDULER))) {
      await queue.upsertJobScheduler(
        SWEEP_SCHEDULER,
        { every: this.config.sweepIntervalMs },
        { name: 'sweep', data: { kind: 'sweep' }, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
      this.logger.info({ everyMs: this.config.sweepIntervalMs }, 'unenrollment sweep scheduled');
    }
    const inactivity = await queue.getJobScheduler(INACTIVITY_SCHEDULER);
    if (this.config.inactivityDays > 0 && !inactivity) {
      await queue.upsertJobScheduler(
        INACTIVITY_SCHEDULER,
        { every: this.config.inactivityCheckIntervalMs },
        { name: 'inactivity', data: { kind: 'inactivity' }, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
    } else if (this.config.inactivityDays === 0 && inactivity) {
      await queue.removeJobScheduler(INACTIVITY_SCHEDULER);
    }
  }
}
