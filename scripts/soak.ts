/**
 * Soak with injected faults (issue 18):
 *   npm run soak -- [--devices 100] [--minutes 1] [--faults redis,db,worker,gateway,apns] [--seconds S]
 *
 * Starts a dedicated redis-server, FerretDB, the APNs stand-in (a push certificate installed through the admin API)
 * and the gateway as production runs it (two `serve` replicas and one `work` process), enrolls N simulated devices
 * through the real enrollment path, then for M minutes enqueues commands through the admin API, lets pushes wake
 * the devices (and polls), answers (10 % NotNow first, 10 % Error), retires a few devices, and injects the faults.
 * Then it drains and checks: 0 commands lost or duplicated, every retirement finished, retired devices refused and
 * the others served, /readyz back after every fault. Prints a table, then one JSON line; exits 1 on any loss.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApnsStandin, createTestPki } from '../test/support/apns-standin.js';
import { AdminClient } from './soak/admin.js';
import { allReady, FAULTS, type FaultName, type FaultTargets } from './soak/faults.js';
import { enrollFleet, type SoakDevice } from './soak/fleet.js';
import { createAdminKey, GatewayProcess, gatewayEnv } from './soak/gateway.js';
import { SoakRun } from './soak/loops.js';
import { printReport, type SoakReport } from './soak/report.js';
import { startSoakServices } from './soak/services.js';
import { checkCommands, checkDevices } from './soak/verify.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    minutes: { type: 'string', default: '1' },
    seconds: { type: 'string' },
    faults: { type: 'string', default: FAULTS.join(',') },
  },
});
const deviceCount = Math.max(2, Math.min(5_000, Number(values.devices)));
const runMs =
  Math.max(5, Math.min(3_600, values.seconds ? Number(values.seconds) : Number(values.minutes) * 60)) * 1000;
const faults = (values.faults ?? '')
  .split(',')
  .filter(Boolean)
  .map((f) => {
    if (!(FAULTS as readonly string[]).includes(f)) throw new Error(`unknown fault ${f}; known: ${FAULTS.join(',')}`);
    return f as FaultName;
  });

async function main(): Promise<number> {
  const started = Date.now();
  const services = await startSoakServices();
  const pki = await createTestPki();
  const caFile = path.join(services.dir, 'apns-ca.pem');
  writeFileSync(caFile, pki.ca.certPem);
  const standin = await ApnsStandin.start({ pki });
  const env = gatewayEnv({
    mongodbUri: services.db.url,
    redisUrl: services.redis.url,
    masterKey: randomBytes(32).toString('base64'),
    apnsEndpoint: standin.url,
    apnsCaFile: caFile,
    logDir: services.dir,
  });
  const serve = [
    await GatewayProcess.create('serve-1', 'serve', env, services.dir),
    await GatewayProcess.create('serve-2', 'serve', env, services.dir),
  ];
  const work = await GatewayProcess.create('work', 'work', env, services.dir);
  const processes = [...serve, work];
  try {
    await Promise.all(processes.map((p) => p.start()));
    const admin = new AdminClient(
      serve.map((s) => s.url),
      await createAdminKey(env),
    );
    const certificate = await pki.issuePushCertificate();
    await admin.expect(
      'POST',
      '/api/apns/certificate',
      { pem: `${certificate.certPem}\n${certificate.keyPem}` },
      [201],
    );
    const setupMs = Date.now() - started;
    console.log(
      `soak: gateway up in ${(setupMs / 1000).toFixed(1)} s (logs in ${services.dir}); enrolling ${deviceCount}…`,
    );
    const fleet = await enrollFleet(
      deviceCount,
      serve.map((s) => s.url),
      admin,
    );
    console.log(`soak: ${deviceCount} enrolled in ${(fleet.wallMs / 1000).toFixed(1)} s; running ${runMs / 1000} s`);
    const report = await soak(fleet.devices, admin, { redis: services.redis, db: services.db, serve, work, standin });
    report.setup = { seconds: Math.round(setupMs / 100) / 10, enrollSeconds: Math.round(fleet.wallMs / 100) / 10 };
    report.wallSeconds = Math.round((Date.now() - started) / 100) / 10;
    return printReport(report) ? 0 : 1;
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await standin.close();
    await services.cleanup();
  }
}

async function soak(
  devices: SoakDevice[],
  admin: AdminClient,
  parts: Omit<FaultTargets, 'devices' | 'wakeSome' | 'unexpectedExits'>,
): Promise<SoakReport> {
  const wakeSome = async () => {
    const candidates = devices.filter((d) => !d.retiring && !d.removed).slice(0, 5);
    await Promise.all(
      candidates.map((d) => admin.request('POST', `/api/mdm/devices/${d.deviceId}/push`, undefined, 2)),
    );
  };
  const targets: FaultTargets = { ...parts, devices: () => devices, wakeSome, unexpectedExits: [] };
  const run = new SoakRun(devices, admin, targets, Date.now() + runMs);
  const wakeLoop = run.wakeLoop();
  await Promise.all([run.enqueueLoop(), run.retireLoop(runMs), run.faultLoop(faults, runMs)]);
  const ranMs = runMs + Math.max(0, Date.now() - run.endAt);
  const finalReady = await allReady(targets);
  run.stopWakeLoop();
  await wakeLoop;
  const drainStarted = Date.now();
  await run.drain();
  const commands = await checkCommands(admin, devices, run.enqueued, run.log);
  const deviceTally = await checkDevices(admin, devices);
  return {
    devices: devices.length,
    runSeconds: Math.round(ranMs / 1000),
    drainSeconds: Math.round((Date.now() - drainStarted) / 1000),
    faults: run.faultRecords,
    finalReadyMs: finalReady,
    unexpectedExits: targets.unexpectedExits,
    commands,
    uncertainEnqueues: run.uncertain.length,
    deviceTally,
    sessions: run.log.sessions,
    sessionFailures: run.log.sessionFailures,
    deviceStatuses: run.log.statusCounts,
    pushes: pushOutcomes(parts.standin),
    adminCalls: admin.calls,
    adminRetries: admin.retries,
  };
}

function pushOutcomes(standin: ApnsStandin): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of standin.requests) counts[String(r.outcome)] = (counts[String(r.outcome)] ?? 0) + 1;
  return counts;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`soak: ${(error as Error).stack ?? error}`);
    process.exit(2);
  },
);
