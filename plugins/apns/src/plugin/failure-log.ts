import type { Logger } from 'pino';
import type { DevicePushOutcome } from './outcome-storage.js';

const EXAMPLES = 5;

/**
 * Logs failed pushes without flooding: the first failures go out at once, later ones are summed and written as
 * one line per interval (counts by reason and a few examples). Nothing is dropped: a pending summary is written
 * when the interval ends or the plugin stops.
 */
export class PushFailureLog {
  private counts = new Map<string, number>();
  private examples: Omit<DevicePushOutcome, 'result'>[] = [];
  private lastWrite = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  record(failures: readonly DevicePushOutcome[]): void {
    for (const failure of failures) {
      const reason = failure.reason ?? 'unknown';
      this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
      if (this.examples.length < EXAMPLES) {
        const { deviceId, reason: why, detail, status } = failure;
        this.examples.push({ deviceId, reason: why, detail, status });
      }
    }
    if (this.counts.size === 0) return;
    const wait = this.lastWrite + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.counts.size === 0) return;
    const failed = Object.fromEntries(this.counts);
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    this.logger.warn(
      { failed, total, examples: this.examples, sinceMs: this.lastWrite ? Date.now() - this.lastWrite : undefined },
      `APNs pushes failed: ${Object.entries(failed)
        .map(([reason, n]) => `${n} ${reason}`)
        .join(', ')}`,
    );
    this.counts = new Map();
    this.examples = [];
    this.lastWrite = Date.now();
  }
}
