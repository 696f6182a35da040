/**
 * How the poll round trip's cost grows with the fleet: N devices enroll for real (profile, SCEP, Authenticate,
 * TokenUpdate) and answer a history of commands; then, for each fleet size, the database is grown with copies of
 * their records (scripts/bench/_clone-fleet.ts: the rest of a fleet, which never polls) and the N devices poll
 * through the same gateway (a serve process and a work process, as deployed): round trips per second, CPU per
 * round trip of the serve and work processes and the database, sequential scans, latency and RSS at each size,
 * side by side in one run. Each size is measured twice: `warm`, sessions as a real fleet has them (the devices'
 * binding-cache entries stored at an earlier session, days long), and `cold`, every session starting with a
 * binding-cache miss (the shared generation moved: an identity's first session, or Redis lost its data). The CPU
 * and scans of a phase include the work role's presence flush of its sessions (the readings wait for it).
 *   npm run bench -- curve [--enrolled 100] [--sizes 1000,10000] [--commands 3] [--history 5] [--concurrency 48]
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { Redis } from 'ioredis';
import type { SimulatedDevice } from '../../test/support/device-simulator.js';
import { presenceFlushed } from '../../test/support/presence.js';
import {
  ensureLocalServices,
  ferretDbBackendInUse,
  localServicePids,
  stopLocalServices,
} from '../lib/local-services.js';
import { growFleet } from './_clone-fleet.js';
import { counterDelta, postgresCpuSeconds, postgresUrlOf, type TableCounters, tableCounters } from './_ferretdb-pg.js';
import { BENCH_ADMIN_HEADERS as headers, inBatches } from './_fleet.js';
import { enrollGatewayFleet } from './_gateway-fleet.js';
import { type GatewayProcesses, startGateway } from './_gateway-processes.js';
import { cpuSeconds } from './_proc.js';
import { ONE_CLIENT_MANY_DEVICES, option, percentiles, textOption } from './_stats.js';

async function deviceIds(url: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = (await (await fetch(`${url}/api/mdm/devices?limit=200${query}`, { headers })).json()) as {
      items: { id: string }[];
      nextCursor: string | null;
    };
    ids.push(...page.items.map((d) => d.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

/** One bulk request per command round: queued on every device when it answers. */
async function enqueue(url: string, ids: readonly string[], perDevice: number): Promise<void> {
  for (let i = 0; i < perDevice; i++) {
    const res = await fetch(`${url}/api/mdm/bulk/commands`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ target: { deviceIds: ids }, command: { requestType: 'DeviceInformation' } }),
    });
    if (res.status !== 202) throw new Error(`bulk enqueue failed: ${res.status} ${await res.text()}`);
    const { outcomes } = (await res.json()) as { outcomes: Record<string, number> };
    if (outcomes.queued !== ids.length) throw new Error(`bulk enqueue queued ${JSON.stringify(outcomes)}`);
  }
}

interface Measured {
  roundTrips: number;
  seconds: number;
  latencies: number[];
}

async function pollAll(devices: readonly SimulatedDevice[], concurrency: number): Promise<Measured> {
  let roundTrips = 0;
  const latencies: number[] = [];
  const startedAt = new Date();
  const started = process.hrtime.bigint();
  await inBatches(devices, concurrency, async (device) => {
    const answered = await device.poll();
    roundTrips += answered.filter((a) => a.status === 'Acknowledged').length;
    for (const e of device.exchanges) if (e.phase === 'command' && e.at >= startedAt) latencies.push(e.durationMs);
    device.exchanges.length = 0;
  });
  return { roundTrips, seconds: Number(process.hrtime.bigint() - started) / 1e9, latencies };
}

/** The collections a poll session may touch; `mdm_presence` is written by the work role's flush, not the poll. */
const SESSION_COLLECTIONS = [
  'mdm_devices',
  'mdm_certificates',
  'mdm_identity_bindings',
  'mdm_inventory',
  'mdm_commands',
  'mdm_command_results',
  'core_events',
  'mdm_presence',
];

interface Phase {
  gateway: GatewayProcesses;
  devices: readonly SimulatedDevice[];
  expected: number;
  concurrency: number;
  pgUrl: string | undefined;
  schema: string;
  ferretdbPid: number | undefined;
  /** The gateway's Redis and the mdm plugin's key prefix there (to wait for the presence flush). */
  redis: Redis;
  mdmPrefix: string;
}

// The presence writes a session causes are part of what it costs: each reading waits for the work role's flush
// (every presenceFlushSeconds, a minute by default).
const FLUSH_WAIT_MS = 120_000;
// PostgreSQL backends report their counters at most once a second, and an idle one only after 10 s.
const settle = () => new Promise((resolve) => setTimeout(resolve, 10_500));

/** One poll session per device, measured: what it cost each process, what PostgreSQL scanned, and how fast. */
async function measure(phase: Phase): Promise<Record<string, unknown>> {
  const { gateway, pgUrl, ferretdbPid } = phase;
  const serveCpu = () => gateway.pids.serve.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const workCpu = () => (gateway.pids.work === undefined ? Number.NaN : cpuSeconds(gateway.pids.work));
  await presenceFlushed(phase.redis, phase.mdmPrefix, FLUSH_WAIT_MS);
  await settle();
  const tablesBefore: Record<string, TableCounters> = pgUrl ? tableCounters(pgUrl, phase.schema) : {};
  const before = {
    serve: serveCpu(),
    work: workCpu(),
    ferretdb: ferretdbPid ? cpuSeconds(ferretdbPid) : Number.NaN,
    postgresql: pgUrl ? postgresCpuSeconds(pgUrl) : Number.NaN,
  };
  const rss = gateway.sampleRss();
  // With PROFILE_DIR, a CPU profile of each process over the sessions alone.
  if (process.env.PROFILE_DIR) gateway.signal('SIGUSR2');
  const measured = await pollAll(phase.devices, phase.concurrency);
  if (process.env.PROFILE_DIR) gateway.signal('SIGUSR2');
  const peak = rss.stop();
  await presenceFlushed(phase.redis, phase.mdmPrefix, FLUSH_WAIT_MS);
  const after = {
    serve: serveCpu(),
    work: workCpu(),
    ferretdb: ferretdbPid ? cpuSeconds(ferretdbPid) : Number.NaN,
    postgresql: pgUrl ? postgresCpuSeconds(pgUrl) : Number.NaN,
  };
  await settle();
  const tables = pgUrl ? counterDelta(tableCounters(pgUrl, phase.schema), tablesBefore) : {};
  if (measured.roundTrips !== phase.expected)
    throw new Error(`expected ${phase.expected} acknowledged commands, got ${measured.roundTrips}`);
  const perRt = (seconds: number) => +((seconds * 1000) / measured.roundTrips).toFixed(2);
  const latency = percentiles(measured.latencies);
  return {
    roundTripsPerSecond: Math.round(measured.roundTrips / measured.seconds),
    cpuMsPerRoundTrip: {
      serve: perRt(after.serve - before.serve),
      work: perRt(after.work - before.work),
      ferretdb: perRt(after.ferretdb - before.ferretdb),
      postgresql: perRt(after.postgresql - before.postgresql),
    },
    seqScansPerRoundTrip: Object.fromEntries(
      SESSION_COLLECTIONS.map((name) => [
        name,
        {
          scans: +((tables[name]?.seqScan ?? 0) / measured.roundTrips).toFixed(3),
          rowsRead: +((tables[name]?.seqTupRead ?? 0) / measured.roundTrips).toFixed(1),
        },
      ]),
    ),
    latencyMs: { p50: latency.p50, p99: latency.p99 },
    peakRssMb: peak,
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const enrolledCount = option(args, 'enrolled', 100);
  const sizes = (textOption(args, 'sizes') ?? '1000,10000').split(',').map(Number);
  const commands = option(args, 'commands', 3);
  const history = option(args, 'history', 5);
  const concurrency = option(args, 'concurrency', 48);
  const services = await ensureLocalServices();
  const uri = new URL(services.mongodbUri);
  const schema = `bench_curve_${randomBytes(3).toString('hex')}`;
  uri.pathname = `/${schema}`;
  const redisPrefix = `bench-${randomBytes(3).toString('hex')}`;
  const gateway = await startGateway({
    replicas: 1,
    env: {
      MONGODB_URI: uri.toString(),
      REDIS_URL: services.redisUrl,
      GATEWAY_REDIS__PREFIX: redisPrefix,
      GATEWAY_SECURITY__MASTER_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
      PROFILE_DIR: process.env.PROFILE_DIR,
      ...ONE_CLIENT_MANY_DEVICES,
    },
    nodeArgs: [],
  });
  const url = gateway.url;
  let failed = false;
  try {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2 });
    const { devices } = await enrollGatewayFleet(url, enrolledCount, agent);
    const ids = await deviceIds(url);
    console.log(`enrolled ${devices.length}; answering a history of ${history} commands each…`);
    await enqueue(url, ids, history);
    await pollAll(devices, concurrency);
    const { ferretdb: ferretdbPid } = localServicePids();
    const pgUrl = postgresUrlOf(ferretdbPid);
    const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 3 });
    const mdmPrefix = `${redisPrefix}:mdm:`;
    const phase = {
      ...{ gateway, devices, expected: ids.length * commands, concurrency, pgUrl, schema, ferretdbPid },
      ...{ redis, mdmPrefix },
    };
    const points: Record<string, unknown>[] = [];
    let copies = 0;
    for (const size of sizes) {
      const grown = Date.now();
      copies = await growFleet(uri.toString(), size, copies);
      console.log(`fleet of ${size} in the database (copies added in ${((Date.now() - grown) / 1000).toFixed(1)} s)`);
      await enqueue(url, ids, commands);
      const warm = await measure(phase);
      console.log(JSON.stringify({ devicesInDatabase: size, warm }));
      await enqueue(url, ids, commands);
      // Every entry ends: each session starts as an identity's first does (or as every one does after Redis lost
      // its data), with the binding read from the database.
      await redis.set(`${mdmPrefix}binding-generation`, randomBytes(9).toString('base64url'));
      const cold = await measure(phase);
      console.log(JSON.stringify({ devicesInDatabase: size, cold }));
      points.push({ devicesInDatabase: size, warm, cold });
    }
    redis.disconnect();
    const rate = (point: Record<string, unknown> | undefined, key: 'warm' | 'cold') =>
      (point?.[key] as { roundTripsPerSecond: number } | undefined)?.roundTripsPerSecond ?? 0;
    const ratio = (key: 'warm' | 'cold') =>
      rate(points[0], key) ? +(rate(points[points.length - 1], key) / rate(points[0], key)).toFixed(3) : null;
    return {
      enrolled: enrolledCount,
      commandsPerDevice: commands,
      historyPerDevice: history,
      concurrency,
      points,
      lastToFirst: { warm: ratio('warm'), cold: ratio('cold') },
      database: process.env.MONGODB_URI ? 'external' : `FerretDB 1.24 (${ferretDbBackendInUse()})`,
    };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const output = await gateway.stop(failed);
    if (output) console.error(output);
    stopLocalServices();
  }
}
