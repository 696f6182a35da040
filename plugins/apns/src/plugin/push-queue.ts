import { randomUUID } from 'node:crypto';
import type { PushService, QueueHandle } from 'enrollment-gateway/sdk';
import type { WakeLedger } from './wake-ledger.js';

export const PUSH_QUEUE = 'apns-push';

/** Push jobs carry no device data at all: the devices wait in the ledger (ids only, never tokens). */
export interface PushJobData {
  trigger: 'wake' | 'more' | 'retry' | 'resume';
}

const FLUSH_JOB_OPTIONS = {
  removeOnComplete: true,
  removeOnFail: true,
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
} as const;

/**
 * Schedules push jobs. Time is cut into coalescing windows; the job for a window has the id "flush-<window>",
 * and BullMQ ignores adding a job whose id already exists, so however many wakes land in one window, one job
 * runs at its end and pushes every device due by then.
 */
export class PushScheduler {
  constructor(
    private readonly queue: () => QueueHandle<PushJobData>,
    private readonly windowMs: number,
  ) {}

  get window(): number {
    return Math.max(1, this.windowMs);
  }

  async flushAt(dueMs: number, trigger: PushJobData['trigger']): Promise<void> {
    const slot = Math.ceil(dueMs / this.window);
    const delay = Math.max(0, slot * this.window - Date.now());
    await this.queue().add('flush', { trigger }, { ...FLUSH_JOB_OPTIONS, jobId: `flush-${slot}`, delay });
  }

  /** Another job right away, so a second worker slot claims the next batch while this one sends. */
  async more(): Promise<void> {
    await this.queue().add('flush', { trigger: 'more' }, { ...FLUSH_JOB_OPTIONS, jobId: `more-${randomUUID()}` });
  }
}

/** The PushService other plugins call (mdm after enqueueing commands). */
export class CoalescingPushService implements PushService {
  constructor(
    private readonly ledger: WakeLedger,
    private readonly scheduler: PushScheduler,
    private readonly coalesceMs: number,
  ) {}

  async wake(deviceIds: readonly string[]): Promise<void> {
    const unique = [...new Set(deviceIds)];
    if (unique.length === 0) return;
    const due = Date.now() + this.coalesceMs;
    await this.ledger.add(unique, due);
    await this.scheduler.flushAt(due, 'wake');
  }
}
