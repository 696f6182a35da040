/**
 * ACME (iOS 17, attested P-384 identity) and SCEP (iOS 15, RSA 2048) enrollments per second, side by side against one
 * gateway: mint → profile download → identity (ACME or SCEP) → Authenticate → TokenUpdate, `concurrency` at a time.
 * Rounds alternate SCEP and ACME so both see the same machine load.
 *   npm run bench -- acme-enroll [--devices 40] [--concurrency 8] [--rounds 2]
 */
import plugin from '../../plugins/acme/index.js';
import { type FleetSummary, simulateFleet } from '../../test/support/device-simulator.js';
import { TestAttestationRoot } from '../../test/support/device-simulator-acme.js';
import { startPluginHarness } from '../../test/support/harness.js';
import { servicesForHarness, stopLocalServices } from '../lib/local-services.js';
import { option } from './_stats.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const devices = option(args, 'devices', 40);
  const concurrency = option(args, 'concurrency', 8);
  const rounds = option(args, 'rounds', 2);
  await servicesForHarness();
  const root = await TestAttestationRoot.create();
  const h = await startPluginHarness({
    plugins: [plugin],
    label: 'benchacme',
    config: { plugins: { acme: { attestationRootsPem: root.rootPem } } },
  });
  const totals = {
    acme: { enrolled: 0, failed: 0, wallMs: 0, identityP50: [] as number[] },
    scep: { enrolled: 0, failed: 0, wallMs: 0, identityP50: [] as number[] },
  };
  let user = 0;
  const fleet = (osVersion: string): Promise<FleetSummary> =>
    simulateFleet({
      count: devices,
      concurrency,
      baseUrl: h.url,
      publicUrl: 'https://gateway.test',
      poll: false,
      deviceOptions: () => ({ osVersion, attestation: root }),
      mint: async () => {
        const res = await h.adminFetch('/api/mdm/enrollments', {
          method: 'POST',
          body: JSON.stringify({ userId: `bench-${++user}` }),
        });
        return ((await res.json()) as { profileUrl: string }).profileUrl;
      },
    });
  try {
    for (let round = 0; round < rounds; round++) {
      for (const kind of ['scep', 'acme'] as const) {
        const summary = await fleet(kind === 'acme' ? '17.5' : '15.7');
        const total = totals[kind];
        total.enrolled += summary.enrolled;
        total.failed += summary.failed;
        total.wallMs += summary.wallMs;
        total.identityP50.push(summary.timings.scep.p50);
        if (summary.errors.length) console.log(`${kind}: ${JSON.stringify(summary.errors.slice(0, 2))}`);
        console.log(
          `round ${round + 1} ${kind}: ${summary.enrolled}/${devices} in ${summary.wallMs} ms, ` +
            `${summary.enrollmentsPerSecond}/s, identity step p50 ${summary.timings.scep.p50} ms`,
        );
      }
    }
  } finally {
    await h.stop();
    stopLocalServices();
  }
  const figures = (kind: 'acme' | 'scep') => {
    const t = totals[kind];
    const sorted = [...t.identityP50].sort((a, b) => a - b);
    return {
      enrolled: t.enrolled,
      failed: t.failed,
      enrollmentsPerSecond: Math.round((t.enrolled / (t.wallMs / 1000)) * 10) / 10,
      identityStepP50Ms: sorted[Math.floor(sorted.length / 2)],
    };
  };
  return { devices, concurrency, rounds, scep: figures('scep'), acme: figures('acme') };
}
