import { expect } from 'chai';
import { finished, spawnTs } from '../support/process.js';

/**
 * The short soak (`npm run soak`) as a test: real serve and work processes, a dedicated Redis and FerretDB, the
 * APNs stand-in, 15 enrolled devices for ~20 s while the work role is SIGKILLed, a serve replica is SIGKILLed and
 * APNs answers 429/500/503/410/GOAWAY. The figures come from the script's last line (JSON); any loss fails it.
 */
describe('soak: short run with injected faults (npm run soak)', function () {
  this.timeout(240_000);

  it('loses no command, duplicates no result, finishes every retirement and recovers /readyz after each fault', async () => {
    const child = spawnTs(
      'scripts/soak.ts',
      ['--devices', '15', '--seconds', '20', '--faults', 'worker,gateway,apns'],
      {
        FERRETDB_BIN: process.env.FERRETDB_BIN,
        FERRETDB_BACKEND: process.env.FERRETDB_BACKEND,
        FERRETDB_POSTGRES_URL: process.env.FERRETDB_POSTGRES_URL,
        GATEWAY_CACHE_DIR: process.env.GATEWAY_CACHE_DIR,
        XDG_CACHE_HOME: process.env.XDG_CACHE_HOME,
      },
    );
    const { code, stdout, stderr } = await finished(child, 230_000);
    const last = stdout.trim().split('\n').at(-1) ?? '';
    let result: {
      ok: boolean;
      problems: string[];
      faults: { fault: string; recoveredMs: number | null }[];
      commands: { enqueued: number; answered: number; lost: number; duplicated: number; mismatched: number };
      unenrollments: { retirementsAsked: number; retired: number; retiredRefused: number; activeRefused: number };
    };
    try {
      result = JSON.parse(last);
    } catch {
      throw new Error(`the soak printed no JSON line (exit ${code}):\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
    }
    expect(result.problems, stdout.slice(-3000)).to.deep.equal([]);
    expect(result.ok).to.equal(true);
    expect(code).to.equal(0);
    expect(result.commands.enqueued).to.be.greaterThan(10);
    expect(result.commands.answered).to.be.greaterThan(5);
    expect(result.commands.lost).to.equal(0);
    expect(result.commands.duplicated).to.equal(0);
    expect(result.commands.mismatched).to.equal(0);
    expect(result.unenrollments.retirementsAsked).to.be.greaterThan(0);
    expect(result.unenrollments.retired).to.equal(result.unenrollments.retirementsAsked);
    expect(result.unenrollments.retiredRefused).to.equal(result.unenrollments.retirementsAsked);
    expect(result.unenrollments.activeRefused).to.equal(0);
    expect(result.faults.length).to.be.greaterThanOrEqual(2);
    for (const fault of result.faults) expect(fault.recoveredMs, fault.fault).to.be.a('number');
  });
});
