/** One signing job of the simulator's pool (test/support/signing-pool.ts), run in a worker thread. */
import { signDetached } from '../../plugins/mdm/src/pki/index.js';

export interface SigningJob {
  body: Uint8Array;
  certPem: string;
  keyPem: string;
  digest: 'sha256' | 'sha1';
}

export default function sign(job: SigningJob): string {
  return signDetached(Buffer.from(job.body), job.certPem, job.keyPem, { digest: job.digest });
}
