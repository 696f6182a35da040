/**
 * With N enrolled simulated devices: poll → command → Acknowledged round trips per second through
 * the real HTTP endpoints and the real database, the gateway's RSS, the CPU each part used, the
 * requests' latency, the database and Redis operations per round trip by type, what PostgreSQL did behind
 * FerretDB, and the database's own ceiling for the same operations (see _database-floor.ts; --floor 0 skips it).
 *   npm run bench -- checkin [--devices 1000] [--commands 3] [--concurrency 48] [--floor 0] [--gateway-dir DIR]
 *     [--replicas N] [--sign-threads N]
 * --gateway-dir runs the gateway from another checkout (e.g. the code before a change, with its own node_modules)
 * while this checkout's simulator drives it: run both back to back for a side-by-side ratio.
 * --replicas N runs the work role in a process of its own and N serve processes behind one port (node:cluster);
 * without it the gateway is one process in the `all` role. The gateway's CPU is the sum over its processes.
 * --sign-threads N signs the devices' requests on N worker threads (default: one per core; 0 signs on the simulator's
 * own thread), so the client is not the ceiling; the simulator's CPU counts every thread.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { SigningPool } from '../../test/support/signing-pool.js';
import {
  ensureLocalServices,
  ferretDbBackendInUse,
  localServicePids,
  stopLocalServices,
} from '../lib/local-services.js';
import { databaseFloor } from './_database-floor.js';
import { counterDelta, postgresCpuSeconds, postgresUrlOf, rowSizes, tableCounters } from './_ferretdb-pg.js';
import { inBatches } from './_fleet.js';
import { enrollGatewayFleet, queueGatewayCommands, startBenchGateway } from './_gateway-fleet.js';
import { readOpCounts } from './_op-counts.js';
import { measurePollSessions, msPerRoundTrip } from './_poll-sessions.js';
import { cpuSeconds } from './_proc.js';
import { option, textOption } from './_stats.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const devices = option(args, 'devices', 1000);
  const commandsPerDevice = option(args, 'commands', 3);
  const concurrency = option(args, 'concurrency', 48);
  const gatewayDir = textOption(args, 'gateway-dir');
  const replicas = option(args, 'replicas', 0);
  // The devices' RSA signatures on worker threads (0: on the simulator's own thread).
  const signThreads = option(args, 'sign-threads', os.availableParallelism());
  const signingPool = signThreads > 0 ? new SigningPool(signThreads) : undefined;
  const services = await ensureLocalServices();
  const mongodbUri = new URL(services.mongodbUri);
  const databaseName = `bench_checkin_${randomBytes(3).toString('hex')}`;
  mongodbUri.pathname = `/${databaseName}`;
  const opsFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-checkin-')), 'ops.json');
  const gateway = await startBenchGateway({ ...services, databaseName, opsFile, gatewayDir, replicas });
  const url = gateway.url;
  let failed = false;
  try {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2 });
    const agents = { http: agent };
    console.log(`enrolling ${devices} simulated devices…`);
    const setupStarted = Date.now();
    const fleet = await enrollGatewayFleet(url, devices, agent, { signingPool });
    const enrolled = fleet.devices;
    console.log(
      `enrolled ${enrolled.length} in ${fleet.seconds.toFixed(1)} s; queueing ${commandsPerDevice} commands each…`,
    );
    await queueGatewayCommands(url, commandsPerDevice);
    console.log(`set up in ${((Date.now() - setupStarted) / 1000).toFixed(1)} s; measuring…`);

    const pids = localServicePids();
    const pgUrl = postgresUrlOf(pids.ferretdb);
    const tablesBefore = pgUrl ? tableCounters(pgUrl, databaseName) : {};
    const rss = gateway.sampleRss();
    let peakRss: { serve: number; work?: number } = { serve: Number.NaN };
    const measured = await measurePollSessions(enrolled, {
      workers: concurrency,
      cpu: {
        gateway: () => gateway.cpuSeconds(),
        ferretdb: () => (pids.ferretdb ? cpuSeconds(pids.ferretdb) : Number.NaN),
        postgresql: () => (pgUrl ? postgresCpuSeconds(pgUrl) : Number.NaN),
      },
      // Starts the operation counts (and the CPU profile with PROFILE_DIR).
      beforeSessions: async () => {
        gateway.signal('SIGUSR2');
        await new Promise((resolve) => setTimeout(resolve, 100));
      },
      afterSessions: async () => {
        peakRss = rss.stop();
        gateway.signal('SIGUSR2');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      },
    });
    const { acknowledged, requests, seconds } = measured;
    const orNull = (n: number) => (Number.isNaN(n) ? null : n);
    const cpu = {
      gateway: measured.cpuSeconds.gateway,
      ferretdb: orNull(measured.cpuSeconds.ferretdb),
      postgresql: orNull(measured.cpuSeconds.postgresql),
      simulator: measured.cpuSeconds.simulator,
    };
    const tables = pgUrl ? counterDelta(tableCounters(pgUrl, databaseName), tablesBefore) : {};
    const rows = pgUrl ? rowSizes(pgUrl, databaseName, ['mdm_devices', 'mdm_commands', 'mdm_command_results']) : {};
    const ops = readOpCounts(opsFile);
    // Same client, same concurrency: a bare HTTP round trip to /healthz is this machine's ceiling.
    const ceilingRequests = Math.max(2000, requests);
    const ceilingStarted = process.hrtime.bigint();
    let issued = 0;
    await inBatches(Array.from({ length: concurrency }), concurrency, async () => {
      while (issued < ceilingRequests) {
        issued++;
        await new Promise<void>((resolve, reject) => {
          const req = request(`${url}/healthz`, { agent: agents.http }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', reject);
          req.end();
        });
      }
    });
    const ceilingPerSecond = Math.round(ceilingRequests / (Number(process.hrtime.bigint() - ceilingStarted) / 1e9));
    // And the database's own ceiling: indexed single-document reads at the same concurrency.
    const mongo = await mongoose.createConnection(mongodbUri.toString()).asPromise();
    const udids = enrolled.map((d) => d.udid);
    const dbOps = Math.max(2000, requests);
    let dbIssued = 0;
    const dbStarted = process.hrtime.bigint();
    await inBatches(Array.from({ length: concurrency }), concurrency, async () => {
      while (dbIssued < dbOps) {
        const udid = udids[dbIssued++ % udids.length];
        await mongo.collection('mdm_devices').findOne({ udid });
      }
    });
    const dbReadsPerSecond = Math.round(dbOps / (Number(process.hrtime.bigint() - dbStarted) / 1e9));
    await mongo.close();
    const floor =
      option(args, 'floor', 1) > 0
        ? await databaseFloor({
            sourceUri: mongodbUri.toString(),
            redisUrl: services.redisUrl,
            concurrency,
            pids,
            postgresCpu: pgUrl ? () => postgresCpuSeconds(pgUrl) : undefined,
          })
        : undefined;
    const expected = devices * commandsPerDevice;
    if (acknowledged !== expected) throw new Error(`expected ${expected} acknowledged commands, got ${acknowledged}`);
    const perSecond = Math.round(acknowledged / seconds);
    console.log(
      `${acknowledged} poll→command→Acknowledged round trips (${requests} signed requests) in ${seconds.toFixed(2)} s: ${perSecond}/s`,
    );
    console.log(
      `HTTP ceiling (GET /healthz, same client and concurrency): ${ceilingPerSecond} requests/s; signed MDM requests reached ${(requests / seconds / ceilingPerSecond).toFixed(3)} of it`,
    );
    console.log(
      `gateway peak RSS ${peakRss.serve} MB${peakRss.work === undefined ? '' : ` (per serve replica; work role ${peakRss.work} MB)`}; CPU seconds during the run: gateway ${cpu.gateway}, FerretDB ${cpu.ferretdb ?? 'n/a (external)'}, PostgreSQL ${cpu.postgresql ?? 'n/a'}, simulator ${cpu.simulator}`,
    );
    if (floor)
      console.log(
        `database floor (the same operations per round trip from the bare driver, same concurrency, same data): ${floor.roundTripsPerSecond} round trips/s; CPU ms per round trip: FerretDB ${floor.cpuMsPerRoundTrip.ferretdb ?? 'n/a'}, PostgreSQL ${floor.cpuMsPerRoundTrip.postgresql ?? 'n/a'}`,
      );
    const latency = measured.latencyMs;
    console.log(`signed request latency: p50 ${latency.p50} ms, p99 ${latency.p99} ms`);
    const perRoundTrip = (n: number) => +(n / acknowledged).toFixed(2);
    const opsPerRoundTrip = Object.fromEntries(
      Object.entries(ops)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, o]) => [name, { perRoundTrip: perRoundTrip(o.calls), meanMs: +(o.ms / o.calls).toFixed(2) }]),
    );
    const databaseOps = Object.entries(ops).filter(([name]) => name.startsWith('mongo '));
    const redisOps = Object.entries(ops).filter(([name]) => name.startsWith('redis '));
    console.log('operations per round trip (mean latency):');
    for (const [name, o] of Object.entries(opsPerRoundTrip))
      console.log(`  ${name.padEnd(48)} ${String(o.perRoundTrip).padStart(6)}  (${o.meanMs} ms)`);
    if (pgUrl) {
      console.log(
        'PostgreSQL behind FerretDB, per round trip: sequential scans, rows they read, index scans, rows written',
      );
      for (const [name, t] of Object.entries(tables))
        console.log(
          `  ${name.padEnd(24)} scans ${perRoundTrip(t.seqScan)}, rows read ${perRoundTrip(t.seqTupRead)}, index scans ${perRoundTrip(t.idxScan)}, written ${perRoundTrip(t.inserted + t.updated + t.deleted)}`,
        );
      for (const [name, r] of Object.entries(rows))
        console.log(
          `  ${name.padEnd(24)} ${r.rows} rows of ${r.meanBytes} bytes on average, ${r.toasted} compressed or out of line`,
        );
    }
    return {
      devices,
      commandsPerDevice,
      concurrency,
      replicas: replicas || null,
      signThreads,
      roundTrips: acknowledged,
      requests,
      seconds: +seconds.toFixed(2),
      roundTripsPerSecond: perSecond,
      requestsPerSecond: Math.round(requests / seconds),
      httpCeilingRequestsPerSecond: ceilingPerSecond,
      databaseReadsPerSecond: dbReadsPerSecond,
      databaseFloor: floor,
      ratioToFloor: floor ? +(perSecond / floor.roundTripsPerSecond).toFixed(3) : null,
      seqScansPerRoundTrip: Object.fromEntries(
        Object.entries(tables).map(([name, t]) => [
          name,
          { scans: perRoundTrip(t.seqScan), rowsRead: perRoundTrip(t.seqTupRead) },
        ]),
      ),
      latencyMs: { p50: latency.p50, p99: latency.p99 },
      databaseOpsPerRoundTrip: perRoundTrip(databaseOps.reduce((sum, [, o]) => sum + o.calls, 0)),
      redisOpsPerRoundTrip: perRoundTrip(redisOps.reduce((sum, [, o]) => sum + o.calls, 0)),
      opsPerRoundTrip,
      postgresRows: rows,
      cpuMsPerRoundTrip: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, msPerRoundTrip(v, acknowledged)])),
      ratioToHttpCeiling: +(requests / seconds / ceilingPerSecond).toFixed(3),
      gatewayPeakRssMb: peakRss.serve,
      workRolePeakRssMb: peakRss.work ?? null,
      cpuSeconds: cpu,
      enrollmentsPerSecond: fleet.enrollmentsPerSecond,
      database: process.env.MONGODB_URI ? 'external' : `FerretDB 1.24 (${ferretDbBackendInUse()})`,
    };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    await signingPool?.close();
    const output = await gateway.stop(failed);
    if (failed) console.error(`gateway output:\n${output}`);
    stopLocalServices();
  }
}
