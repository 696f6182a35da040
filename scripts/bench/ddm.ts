/**
 * Declarative device management through the real check-in endpoint and database, side by side in one run with
 * the plain MDM Idle poll (the same devices, client and concurrency), so the figures read as ratios:
 * - first syncs/s: tokens, declaration-items, every declaration, and the first status report;
 * - unchanged syncs/s: a device asking for tokens and finding nothing new (the common case);
 * - status reports/s, changed (one item changes: a write and a durable event) and unchanged (read only);
 * - Idle polls/s: one PUT to /mdm/connect with nothing queued.
 *   npm run bench -- ddm [--devices 200] [--rounds 3] [--concurrency 32]
 */
import { Agent } from 'node:http';
import { SimulatedDdm } from '../../test/support/device-simulator-ddm.js';
import { recordingPush, TEST_TOPIC, testAdminTokens } from '../../test/support/fixture-plugins.js';
import { startTestGateway } from '../../test/support/gateway.js';
import { ensureLocalServices, stopLocalServices } from '../lib/local-services.js';
import { BENCH_ADMIN_HEADERS as headers, inBatches } from './_fleet.js';
import { enrollGatewayFleet } from './_gateway-fleet.js';
import { option, percentiles } from './_stats.js';

type Phase = (ddm: SimulatedDdm) => Promise<void>;

/**
 * Runs every phase once over all devices per round, the phases interleaved round by round, so load from other
 * processes on a shared machine falls on all of them alike; operations per second and latencies per phase.
 */
async function measure(
  devices: readonly SimulatedDdm[],
  concurrency: number,
  rounds: number,
  phases: Record<string, Phase>,
) {
  const seconds: Record<string, number> = {};
  const latencies: Record<string, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, work] of Object.entries(phases)) {
      const startedAt = new Date();
      const started = process.hrtime.bigint();
      await inBatches(devices, concurrency, work);
      seconds[name] = (seconds[name] ?? 0) + Number(process.hrtime.bigint() - started) / 1e9;
      (latencies[name] ??= []).push(
        ...devices.flatMap((d) => d.device.exchanges.filter((e) => e.at >= startedAt).map((e) => e.durationMs)),
      );
    }
  }
  return Object.fromEntries(
    Object.keys(phases).map((name) => [
      name,
      { perSecond: Math.round((devices.length * rounds) / seconds[name]), latencyMs: percentiles(latencies[name]) },
    ]),
  );
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const count = option(args, 'devices', 200);
  const rounds = option(args, 'rounds', 3);
  const concurrency = option(args, 'concurrency', 32);
  const services = await ensureLocalServices();
  // In this process: on a busy shared machine a spawned gateway can take minutes to start. The simulator shares
  // the CPU with it, the same for every phase, so the ratios hold.
  process.env.MONGODB_URI ??= services.mongodbUri;
  process.env.REDIS_URL ??= services.redisUrl;
  const gw = await startTestGateway({
    label: 'benchddm',
    enable: ['mdm', 'admin-access', 'ddm'],
    plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    env: { LOG_LEVEL: 'error' },
    // The bench syncs the devices itself; the enrollment command would only add a poll to the setup.
    config: { log: { level: 'error' }, plugins: { ddm: { syncOnEnrollment: false } } },
  });
  const url = gw.url;
  try {
    const settings = await fetch(`${url}/api/ddm/settings`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({
        version: 0,
        osUpdates: [
          { id: 'ios-18', targetOSVersion: '18.1', deadline: '2030-01-15T09:00:00', assignment: { allDevices: true } },
        ],
        passcode: { requirePasscode: true, minimumLength: 6, assignment: { allDevices: true } },
      }),
    });
    if (settings.status !== 200) throw new Error(`settings: ${settings.status} ${await settings.text()}`);
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2 });
    console.log(`enrolling ${count} simulated devices…`);
    const fleet = await enrollGatewayFleet(url, count, agent, { osVersion: '17.4', maxExchanges: 100_000 });
    const ddms = fleet.devices.map((d) => SimulatedDdm.attach(d));
    console.log('measuring…');
    const [firstSync] = Object.values(
      await measure(ddms, concurrency, 1, {
        firstSync: async (d) => {
          if (!(await d.sync()).changed) throw new Error('a first sync found nothing');
        },
      }),
    );
    const phases = await measure(ddms, concurrency, rounds, {
      idle: async (d) => {
        await d.device.poll();
      },
      unchangedSync: async (d) => {
        if ((await d.sync()).changed) throw new Error('an unchanged sync fetched declarations');
      },
      changedReport: async (d) => {
        d.device.info.passcodePresent = !d.device.info.passcodePresent;
        await d.reportStatus();
      },
      unchangedReport: async (d) => {
        await d.reportStatus(true);
      },
    });
    const { idle, unchangedSync, changedReport, unchangedReport } = phases;
    const declarations = ddms[0].declarations.size;
    const ratio = (n: number) => Math.round((n / idle.perSecond) * 100) / 100;
    const figures = {
      devices: count,
      rounds,
      concurrency,
      declarationsPerDevice: declarations,
      idlePollsPerSecond: idle.perSecond,
      firstSyncsPerSecond: firstSync.perSecond,
      unchangedSyncsPerSecond: unchangedSync.perSecond,
      changedStatusReportsPerSecond: changedReport.perSecond,
      unchangedStatusReportsPerSecond: unchangedReport.perSecond,
      ratioToIdlePoll: {
        firstSync: ratio(firstSync.perSecond),
        unchangedSync: ratio(unchangedSync.perSecond),
        changedStatusReport: ratio(changedReport.perSecond),
        unchangedStatusReport: ratio(unchangedReport.perSecond),
      },
      latencyMs: {
        idlePoll: idle.latencyMs,
        firstSync: firstSync.latencyMs,
        unchangedSync: unchangedSync.latencyMs,
        changedStatusReport: changedReport.latencyMs,
      },
    };
    console.log(
      `${count} devices, ${declarations} declarations each: ${firstSync.perSecond} first syncs/s, ` +
        `${unchangedSync.perSecond} unchanged syncs/s, ${changedReport.perSecond} changed status reports/s, ` +
        `${unchangedReport.perSecond} unchanged reports/s; Idle polls ${idle.perSecond}/s`,
    );
    return figures;
  } finally {
    await gw.stop();
    stopLocalServices();
  }
}
