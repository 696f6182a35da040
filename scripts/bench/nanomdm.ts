/**
 * The check-in hot path side by side with NanoMDM v0.9.0 (issue 24), in one run so the figures can be read as
 * ratios on a noisy machine: for each worker count, NanoMDM then the gateway, each with a fresh database, the
 * same number of simulated devices (signing every request the same way), the same DeviceInformation commands
 * queued through each server's API, then every device runs one session (Idle, answer each command, until the
 * server has none), `workers` devices at a time.
 *   npm run bench -- nanomdm [--devices 500] [--commands 3] [--workers 2,16]
 * Needs scripts/ci/build-nanomdm.sh (Go) and the local PostgreSQL (NANOMDM_POSTGRES_URL, default
 * postgres://postgres@127.0.0.1:5432), where NanoMDM gets a database and FerretDB (the gateway's) another.
 * What differs between the two paths is in docs/mdm.md ("Side by side with NanoMDM").
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import mongoose from 'mongoose';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  loadCertificateAuthority,
} from '../../plugins/mdm/src/pki/index.js';
import type { SimulatedDevice } from '../../test/support/device-simulator.js';
import { localServicePids, startFerretDb, startRedis, stopLocalServices } from '../lib/local-services.js';
import { postgresUrlOf } from './_ferretdb-pg.js';
import { enrollGatewayFleet, queueGatewayCommands, startBenchGateway } from './_gateway-fleet.js';
import { acknowledgedInDatabase, enrollNanoMdmFleet, queueNanoMdmCommands } from './_nanomdm-fleet.js';
import { NANOMDM_VERSION, startNanoMdm } from './_nanomdm-server.js';
import { measurePollSessions, msPerRoundTrip } from './_poll-sessions.js';
import { trackBackendCpu } from './_postgres-backends.js';
import { cpuSeconds } from './_proc.js';
import { option, textOption } from './_stats.js';

type ServerName = 'nanomdm' | 'gateway';

interface ServerRun {
  server: ServerName;
  workers: number;
  roundTrips: number;
  roundTripsPerSecond: number;
  latencyMs: { p50: number; p99: number };
  serverCpuMsPerRoundTrip: number | null;
  /** NanoMDM: its PostgreSQL backends. The gateway: FerretDB and its PostgreSQL backends. */
  databaseCpuMsPerRoundTrip: number | null;
  /** The gateway only (NanoMDM uses none): its own Redis process. */
  redisCpuMsPerRoundTrip: number | null;
  simulatorCpuMsPerRoundTrip: number | null;
  /** Backends of the server's PostgreSQL database that exited during the phase (opened and closed connections). */
  postgresBackendsExited: number;
  /**
   * databaseCpuMsPerRoundTrip with the backends that exited counted by the postmaster's reaped-children CPU
   * less other databases' (an upper bound; see _postgres-backends.ts) instead of their last sample. The same
   * figure when none exited.
   */
  databaseCpuMsPerRoundTripUpperBound: number | null;
  enrollSeconds: number;
  enqueueSeconds: number;
  /** Acknowledged results the server had stored when its CPU was read (all of them are checked later). */
  acknowledgedStoredAtCpuRead: number;
}

interface RunPlan {
  devices: number;
  commandsPerDevice: number;
  workers: number;
}

/** What the measured phase reads the CPU of. */
interface MeasuredProcesses {
  server: () => number;
  /** The PostgreSQL database whose backends work for the server (tracked, counting the ones that exit). */
  postgresUrl: string;
  /** A database process between the server and PostgreSQL (the gateway's FerretDB). */
  databaseProxy?: () => number;
  redis?: () => number;
}

// The gateway records results through its outbox, possibly just after the device's last answer: CPU is read
// after this pause on both sides (NanoMDM does nothing in the background, so it costs it nothing).
const SETTLE_MS = 1000;

async function measure(
  server: ServerName,
  plan: RunPlan,
  setup: { devices: SimulatedDevice[]; enrollSeconds: number; enqueueSeconds: number },
  processes: MeasuredProcesses,
  storedAcknowledged: () => Promise<number>,
): Promise<ServerRun> {
  const backends = trackBackendCpu(processes.postgresUrl);
  const measured = await measurePollSessions(setup.devices, {
    workers: plan.workers,
    cpu: {
      server: processes.server,
      database: () => (processes.databaseProxy?.() ?? 0) + backends.read(),
      redis: processes.redis ?? (() => Number.NaN),
    },
    afterSessions: () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS)),
  });
  backends.stop();
  const exitedSampled = backends.exitedSeconds();
  const expected = plan.devices * plan.commandsPerDevice;
  const storedAtCpuRead = await storedAcknowledged();
  let stored = storedAtCpuRead;
  for (const deadline = Date.now() + 30_000; stored < expected && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    stored = await storedAcknowledged();
  }
  if (measured.acknowledged !== expected || stored !== expected)
    throw new Error(
      `${server}: expected ${expected} acknowledged commands, devices answered ${measured.acknowledged}, ${stored} stored`,
    );
  const perRoundTrip = (seconds: number) => msPerRoundTrip(seconds, measured.acknowledged);
  return {
    server,
    workers: plan.workers,
    roundTrips: measured.acknowledged,
    roundTripsPerSecond: Math.round(measured.acknowledged / measured.seconds),
    latencyMs: measured.latencyMs,
    serverCpuMsPerRoundTrip: perRoundTrip(measured.cpuSeconds.server),
    databaseCpuMsPerRoundTrip: perRoundTrip(measured.cpuSeconds.database),
    redisCpuMsPerRoundTrip: perRoundTrip(measured.cpuSeconds.redis),
    simulatorCpuMsPerRoundTrip: perRoundTrip(measured.cpuSeconds.simulator),
    postgresBackendsExited: backends.exited(),
    databaseCpuMsPerRoundTripUpperBound: backends.exited()
      ? perRoundTrip(measured.cpuSeconds.database - exitedSampled + backends.exitedUpperBound())
      : perRoundTrip(measured.cpuSeconds.database),
    enrollSeconds: +setup.enrollSeconds.toFixed(1),
    enqueueSeconds: +setup.enqueueSeconds.toFixed(2),
    acknowledgedStoredAtCpuRead: storedAtCpuRead,
  };
}

const agentFor = (plan: RunPlan) => new Agent({ keepAlive: true, maxSockets: Math.max(plan.workers, 16) * 2 });

async function runNanoMdm(plan: RunPlan, postgresUrl: string, ca: CertificateAuthority): Promise<ServerRun> {
  const server = await startNanoMdm(postgresUrl, ca.certPem);
  let failed = false;
  try {
    const agent = agentFor(plan);
    const enrollStarted = performance.now();
    const devices = await enrollNanoMdmFleet(server, ca, plan.devices, agent);
    const enrollSeconds = (performance.now() - enrollStarted) / 1000;
    const enqueueSeconds = await queueNanoMdmCommands(server, devices, plan.commandsPerDevice);
    const processes = { server: () => server.cpuSeconds(), postgresUrl: server.databaseUrl };
    const result = await measure('nanomdm', plan, { devices, enrollSeconds, enqueueSeconds }, processes, async () =>
      acknowledgedInDatabase(server),
    );
    agent.destroy();
    return result;
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const log = await server.stop(failed);
    if (failed) console.error(`NanoMDM log:\n${log}`);
  }
}

async function runGateway(plan: RunPlan, services: { mongodbUri: string; redisUrl: string }): Promise<ServerRun> {
  const databaseName = `bench_side_${randomBytes(3).toString('hex')}`;
  const gateway = await startBenchGateway({ ...services, databaseName });
  let failed = false;
  try {
    const agent = agentFor(plan);
    const fleet = await enrollGatewayFleet(gateway.url, plan.devices, agent);
    const enqueueSeconds = await queueGatewayCommands(gateway.url, plan.commandsPerDevice);
    const pids = localServicePids();
    const pgUrl = postgresUrlOf(pids.ferretdb);
    if (!pgUrl) throw new Error('the side-by-side bench needs FerretDB on PostgreSQL (FERRETDB_BACKEND unset)');
    const processes = {
      server: () => gateway.cpuSeconds(),
      postgresUrl: pgUrl,
      databaseProxy: () => (pids.ferretdb ? cpuSeconds(pids.ferretdb) : Number.NaN),
      redis: () => (pids.redis ? cpuSeconds(pids.redis) : Number.NaN),
    };
    const mongodbUri = new URL(services.mongodbUri);
    mongodbUri.pathname = `/${databaseName}`;
    const connection = await mongoose.createConnection(mongodbUri.toString()).asPromise();
    const results = connection.collection('mdm_command_results');
    const setup = { devices: fleet.devices, enrollSeconds: fleet.seconds, enqueueSeconds };
    const result = await measure('gateway', plan, setup, processes, () =>
      results.countDocuments({ state: 'acknowledged' }),
    );
    // FerretDB's own PostgreSQL database goes at the end; the next run's gateway should not find this one's tables.
    await connection.dropDatabase();
    await connection.close();
    agent.destroy();
    return result;
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const output = await gateway.stop(failed);
    if (failed) console.error(`gateway output:\n${output}`);
  }
}

function printTable(runs: readonly ServerRun[]): void {
  const rows: (string | number)[][] = [
    [
      'server',
      'workers',
      'rt/s',
      'p50 ms',
      'p99 ms',
      'server',
      'database',
      'redis',
      'simulator',
      'pg exits',
      'enqueue s',
    ],
  ];
  for (const r of runs)
    rows.push([
      r.server,
      r.workers,
      r.roundTripsPerSecond,
      r.latencyMs.p50.toFixed(1),
      r.latencyMs.p99.toFixed(1),
      r.serverCpuMsPerRoundTrip ?? 'n/a',
      r.databaseCpuMsPerRoundTrip === r.databaseCpuMsPerRoundTripUpperBound
        ? (r.databaseCpuMsPerRoundTrip ?? 'n/a')
        : `${r.databaseCpuMsPerRoundTrip}-${r.databaseCpuMsPerRoundTripUpperBound}`,
      r.redisCpuMsPerRoundTrip ?? '-',
      r.simulatorCpuMsPerRoundTrip ?? 'n/a',
      r.postgresBackendsExited,
      r.enqueueSeconds,
    ]);
  console.log(
    '(server, database, redis, simulator: CPU ms per round trip; database lower-upper bound when backends exited)',
  );
  for (const row of rows) console.log(row.map((cell) => String(cell).padStart(10)).join(''));
}

/** gateway ÷ NanoMDM per worker count: above 1 is better for throughput, below 1 for CPU and latency. */
function ratios(runs: readonly ServerRun[]): Record<string, Record<string, number | null>> {
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b === 0 ? null : +(a / b).toFixed(2);
  const byWorkers: Record<string, Record<string, number | null>> = {};
  for (const gateway of runs.filter((r) => r.server === 'gateway')) {
    const nano = runs.find((r) => r.server === 'nanomdm' && r.workers === gateway.workers);
    if (!nano) continue;
    byWorkers[gateway.workers] = {
      roundTripsPerSecond: ratio(gateway.roundTripsPerSecond, nano.roundTripsPerSecond),
      serverCpuMsPerRoundTrip: ratio(gateway.serverCpuMsPerRoundTrip, nano.serverCpuMsPerRoundTrip),
      databaseCpuMsPerRoundTrip: ratio(gateway.databaseCpuMsPerRoundTrip, nano.databaseCpuMsPerRoundTrip),
      databaseCpuMsPerRoundTripUpperBounds: ratio(
        gateway.databaseCpuMsPerRoundTripUpperBound,
        nano.databaseCpuMsPerRoundTripUpperBound,
      ),
      p50: ratio(gateway.latencyMs.p50, nano.latencyMs.p50),
      p99: ratio(gateway.latencyMs.p99, nano.latencyMs.p99),
      enqueueSeconds: ratio(gateway.enqueueSeconds, nano.enqueueSeconds),
    };
  }
  return byWorkers;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const devices = option(args, 'devices', 500);
  const commandsPerDevice = option(args, 'commands', 3);
  const workerCounts = (textOption(args, 'workers') ?? '2,16').split(',').map(Number);
  if (workerCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--workers takes counts like 2,16');
  const postgresUrl = (process.env.NANOMDM_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/+$/, '');
  // NanoMDM runs no SCEP: this CA issues the devices' identities directly, and NanoMDM is started with it (-ca).
  const ca = loadCertificateAuthority(createCertificateAuthority({ commonName: 'Bench device CA', validityDays: 2 }));
  const runs: ServerRun[] = [];
  try {
    // The gateway's FerretDB and a Redis of its own, so that Redis's CPU is this run's alone.
    const services = { mongodbUri: await startFerretDb(), redisUrl: await startRedis({ ownProcess: true }) };
    for (const workers of workerCounts) {
      const plan = { devices, commandsPerDevice, workers };
      for (const server of ['nanomdm', 'gateway'] as const) {
        console.log(`${server}, ${workers} workers: enrolling ${devices} devices, ${commandsPerDevice} commands each…`);
        const result =
          server === 'nanomdm' ? await runNanoMdm(plan, postgresUrl, ca) : await runGateway(plan, services);
        console.log(
          `  ${result.roundTripsPerSecond} round trips/s, server ${result.serverCpuMsPerRoundTrip} CPU ms/rt`,
        );
        runs.push(result);
      }
    }
  } finally {
    stopLocalServices();
  }
  console.log(
    `\nNanoMDM ${NANOMDM_VERSION} and the gateway, ${devices} devices × ${commandsPerDevice} DeviceInformation, one run` +
      ' (NanoMDM: identities issued directly, no SCEP; CPU per acknowledged round trip)',
  );
  printTable(runs);
  const byWorkers = ratios(runs);
  console.log('gateway ÷ NanoMDM:');
  for (const [workers, r] of Object.entries(byWorkers)) console.log(`  ${workers} workers: ${JSON.stringify(r)}`);
  return {
    devices,
    commandsPerDevice,
    workers: workerCounts,
    nanomdm: NANOMDM_VERSION,
    nanomdmIdentities:
      'issued directly by a test CA (no SCEP), Authenticate + TokenUpdate signed as the simulator signs',
    runs,
    gatewayOverNanomdm: byWorkers,
  };
}
