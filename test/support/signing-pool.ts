import { Piscina } from 'piscina';
import type { SigningJob } from './signing-worker.js';

/**
 * Signs simulated devices' requests (Mdm-Signature, an RSA-2048 signature each) on worker threads, so a benchmark's
 * client is not the ceiling of what it measures: one thread signs about 700 requests per second. The workers load
 * the TypeScript worker through the process's own `--import tsx` (worker threads inherit execArgv).
 */
export class SigningPool {
  private readonly pool: Piscina<SigningJob, string>;

  constructor(threads: number) {
    this.pool = new Piscina<SigningJob, string>({
      filename: new URL('./signing-worker.ts', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
    });
  }

  sign(job: SigningJob): Promise<string> {
    return this.pool.run(job);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
