/**
 * Enrollment throughput: N simulated devices each go through the whole path a real one takes — a one-time link
 * minted by the admin API, the signed profile download, SCEP (PKCSReq with the challenge), Authenticate and
 * TokenUpdate — against a gateway in its own process. Reports enrollments per second, each stage's latency and
 * the gateway's CPU per enrollment (the simulator's RSA key generation and signing are its own CPU; device keys
 * come from a pool of pre-generated keys, so the simulator is not the ceiling).
 *   [PROFILE_DIR=dir] npm run bench -- enroll [--devices 200] [--concurrency 16] [--gateway-dir DIR]
 * PROFILE_DIR: a CPU profile of the gateway during the enrollments only.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { simulateFleet } from '../../test/support/device-simulator.js';
import { finished, waitForLine } from '../../test/support/process.js';
import {
  ensureLocalServices,
  ferretDbBackendInUse,
  localServicePids,
  stopLocalServices,
} from '../lib/local-services.js';
import { postgresCpuSeconds, postgresUrlOf } from './_ferretdb-pg.js';
import { mintEnrollment } from './_fleet.js';
import { cpuSeconds, samplePeakRss } from './_proc.js';
import { ONE_CLIENT_MANY_DEVICES, option, spawnGateway, textOption } from './_stats.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const devices = option(args, 'devices', 200);
  const concurrency = option(args, 'concurrency', 16);
  const services = await ensureLocalServices();
  const uri = new URL(services.mongodbUri);
  uri.pathname = `/bench_enroll_${randomBytes(3).toString('hex')}`;
  const server = spawnGateway(
    textOption(args, 'gateway-dir'),
    [],
    {
      MONGODB_URI: uri.toString(),
      REDIS_URL: services.redisUrl,
      GATEWAY_REDIS__PREFIX: `bench-${randomBytes(3).toString('hex')}`,
      GATEWAY_SECURITY__MASTER_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
      // A CPU profile of the enrollments alone (toggled by SIGUSR2 around them).
      PROFILE_DIR: process.env.PROFILE_DIR,
      ...ONE_CLIENT_MANY_DEVICES,
    },
    [],
  );
  const exited = finished(server, 3_600_000);
  try {
    const [, url] = await waitForLine(server, /listening (http:\S+)/, 60_000);
    const agents = { http: new Agent({ keepAlive: true, maxSockets: concurrency * 2 }) };
    const pids = { gateway: server.pid!, ...localServicePids() };
    const pgUrl = postgresUrlOf(pids.ferretdb);
    const before = {
      gateway: cpuSeconds(pids.gateway),
      ferretdb: pids.ferretdb ? cpuSeconds(pids.ferretdb) : Number.NaN,
      postgresql: pgUrl ? postgresCpuSeconds(pgUrl) : Number.NaN,
      simulator: process.cpuUsage(),
    };
    const rss = samplePeakRss(pids.gateway);
    if (process.env.PROFILE_DIR) server.kill('SIGUSR2');
    const fleet = await simulateFleet({
      count: devices,
      concurrency,
      baseUrl: url,
      publicUrl: 'https://gateway.test',
      poll: false,
      deviceOptions: () => ({ agents }),
      mint: mintEnrollment(url),
    });
    const peakRssMb = rss.stop();
    if (process.env.PROFILE_DIR) {
      server.kill('SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    if (fleet.failed > 0)
      throw new Error(`${fleet.failed} devices failed to enroll: ${JSON.stringify(fleet.errors.slice(0, 3))}`);
    const simulator = process.cpuUsage(before.simulator);
    const perEnrollment = (seconds: number) => +((seconds * 1000) / fleet.enrolled).toFixed(2);
    const cpuMsPerEnrollment = {
      gateway: perEnrollment(cpuSeconds(pids.gateway) - before.gateway),
      ferretdb: pids.ferretdb ? perEnrollment(cpuSeconds(pids.ferretdb) - before.ferretdb) : null,
      postgresql: pgUrl ? perEnrollment(postgresCpuSeconds(pgUrl) - before.postgresql) : null,
      simulator: perEnrollment((simulator.user + simulator.system) / 1e6),
    };
    console.log(
      `${fleet.enrolled} enrollments in ${(fleet.wallMs / 1000).toFixed(1)} s: ${fleet.enrollmentsPerSecond.toFixed(1)}/s; ` +
        `CPU ms per enrollment ${JSON.stringify(cpuMsPerEnrollment)}; gateway peak RSS ${peakRssMb} MB`,
    );
    for (const [stage, t] of Object.entries(fleet.timings))
      console.log(`  ${stage.padEnd(8)} p50 ${t.p50} ms, p99 ${t.p99} ms`);
    return {
      devices,
      concurrency,
      enrolled: fleet.enrolled,
      seconds: +(fleet.wallMs / 1000).toFixed(2),
      enrollmentsPerSecond: +fleet.enrollmentsPerSecond.toFixed(1),
      cpuMsPerEnrollment,
      stageLatencyMs: Object.fromEntries(
        Object.entries(fleet.timings).map(([k, t]) => [k, { p50: t.p50, p99: t.p99 }]),
      ),
      gatewayPeakRssMb: peakRssMb,
      database: process.env.MONGODB_URI ? 'external' : `FerretDB 1.24 (${ferretDbBackendInUse()})`,
    };
  } finally {
    server.kill('SIGTERM');
    await exited.catch(() => undefined);
    stopLocalServices();
  }
}
