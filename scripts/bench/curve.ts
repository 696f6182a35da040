/**
 * How the poll round trip's cost grows with the fleet: N devices enroll for real (profile, SCEP, Authenticate,
 * TokenUpdate) and answer a history of commands; then, for each fleet size, the database is grown with copies of
 * their records (scripts/bench/_clone-fleet.ts: the rest of a fleet, which never polls) and the N devices poll
 * through the same gateway process: round trips per second, gateway CPU per round trip, latency and the
 * gateway's RSS at each size, side by side in one run.
 *   npm run bench -- curve [--enrolled 100] [--sizes 1000,10000] [--commands 3] [--history 5] [--concurrency 48]
 *                          [--gateway-dir DIR]
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { Redis } from 'ioredis';
import { type SimulatedDevice, simulateFleet } from '../../test/support/device-simulator.js';
import { finished, waitForLine } from '../../test/support/process.js';
import {
  ensureLocalServices,
  ferretDbBackendInUse,
  localServicePids,
  stopLocalServices,
} from '../lib/local-services.js';
import { growFleet } from './_clone-fleet.js';
import { postgresCpuSeconds, postgresUrlOf } from './_ferretdb-pg.js';
import { BENCH_ADMIN_HEADERS as headers, inBatches, mintEnrollment } from './_fleet.js';
import { cpuSeconds, samplePeakRss } from './_proc.js';
import { ONE_CLIENT_MANY_DEVICES, option, percentiles, spawnGateway, textOption } from './_stats.js';

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

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const enrolledCount = option(args, 'enrolled', 100);
  const sizes = (textOption(args, 'sizes') ?? '1000,10000').split(',').map(Number);
  const commands = option(args, 'commands', 3);
  const history = option(args, 'history', 5);
  const concurrency = option(args, 'concurrency', 48);
  const services = await ensureLocalServices();
  const uri = new URL(services.mongodbUri);
  uri.pathname = `/bench_curve_${randomBytes(3).toString('hex')}`;
  const redisPrefix = `bench-${randomBytes(3).toString('hex')}`;
  const server = spawnGateway(
    textOption(args, 'gateway-dir'),
    [],
    {
      MONGODB_URI: uri.toString(),
      REDIS_URL: services.redisUrl,
      GATEWAY_REDIS__PREFIX: redisPrefix,
      GATEWAY_SECURITY__MASTER_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
      ...ONE_CLIENT_MANY_DEVICES,
    },
    [],
  );
  const exited = finished(server, 3_600_000);
  try {
    const [, url] = await waitForLine(server, /listening (http:\S+)/, 60_000);
    const agents = { http: new Agent({ keepAlive: true, maxSockets: concurrency * 2 }) };
    const fleet = await simulateFleet({
      count: enrolledCount,
      concurrency: 16,
      baseUrl: url,
      publicUrl: 'https://gateway.test',
      poll: false,
      keepDevices: true,
      deviceOptions: () => ({ agents }),
      mint: mintEnrollment(url),
    });
    if (fleet.failed > 0) throw new Error(`${fleet.failed} devices failed to enroll`);
    const devices = fleet.devices as SimulatedDevice[];
    const ids = await deviceIds(url);
    console.log(`enrolled ${devices.length}; answering a history of ${history} commands each…`);
    await enqueue(url, ids, history);
    await pollAll(devices, concurrency);
    const pids = { gateway: server.pid!, ...localServicePids() };
    const pgUrl = postgresUrlOf(pids.ferretdb);
    const points: Record<string, unknown>[] = [];
    let copies = 0;
    for (const size of sizes) {
      const grown = Date.now();
      copies = await growFleet(uri.toString(), size, copies);
      console.log(`fleet of ${size} in the database (copies added in ${((Date.now() - grown) / 1000).toFixed(1)} s)`);
      await enqueue(url, ids, commands);
      console.log(`queued ${commands} commands for each enrolled device; polling…`);
      // Each device's poll session starts as a real one does, minutes or hours after its last: with a
      // binding-cache miss (a new cache generation makes every entry stale).
      const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 3 });
      await redis.set(`${redisPrefix}binding-generation`, randomBytes(9).toString('base64url'));
      redis.disconnect();
      const before = {
        gateway: cpuSeconds(pids.gateway),
        ferretdb: pids.ferretdb ? cpuSeconds(pids.ferretdb) : Number.NaN,
        postgresql: pgUrl ? postgresCpuSeconds(pgUrl) : Number.NaN,
      };
      const rss = samplePeakRss(pids.gateway);
      const measured = await pollAll(devices, concurrency);
      const peakRssMb = rss.stop();
      const expected = ids.length * commands;
      if (measured.roundTrips !== expected)
        throw new Error(`expected ${expected} acknowledged commands, got ${measured.roundTrips}`);
      const perRt = (seconds: number) => +((seconds * 1000) / measured.roundTrips).toFixed(2);
      const latency = percentiles(measured.latencies);
      const point = {
        devicesInDatabase: size,
        roundTripsPerSecond: Math.round(measured.roundTrips / measured.seconds),
        cpuMsPerRoundTrip: {
          gateway: perRt(cpuSeconds(pids.gateway) - before.gateway),
          ferretdb: pids.ferretdb ? perRt(cpuSeconds(pids.ferretdb) - before.ferretdb) : null,
          postgresql: pgUrl ? perRt(postgresCpuSeconds(pgUrl) - before.postgresql) : null,
        },
        latencyMs: { p50: latency.p50, p99: latency.p99 },
        gatewayPeakRssMb: peakRssMb,
      };
      console.log(JSON.stringify(point));
      points.push(point);
    }
    const first = points[0]?.roundTripsPerSecond as number;
    const last = points[points.length - 1]?.roundTripsPerSecond as number;
    return {
      enrolled: enrolledCount,
      commandsPerDevice: commands,
      historyPerDevice: history,
      concurrency,
      points,
      lastToFirst: first ? +(last / first).toFixed(3) : null,
      database: process.env.MONGODB_URI ? 'external' : `FerretDB 1.24 (${ferretDbBackendInUse()})`,
    };
  } finally {
    server.kill('SIGTERM');
    await exited.catch(() => undefined);
    stopLocalServices();
  }
}
