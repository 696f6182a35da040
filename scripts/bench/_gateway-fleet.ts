/**
 * The check-in benches' set-up against the gateway (checkin.ts, nanomdm.ts): simulated devices enrolled through
 * the real enrollment link, profile and SCEP, then commands queued for every device through the admin API.
 */
import { randomBytes } from 'node:crypto';
import type { Agent } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type SimulatedDevice,
  type SimulatedDeviceOptions,
  simulateFleet,
} from '../../test/support/device-simulator.js';
import { BENCH_ADMIN_HEADERS as headers, inBatches, mintEnrollment } from './_fleet.js';
import { type GatewayProcesses, startGateway } from './_gateway-processes.js';
import { ONE_CLIENT_MANY_DEVICES } from './_stats.js';

export interface BenchGatewayOptions {
  mongodbUri: string;
  redisUrl: string;
  /** The MongoDB database, a fresh one per run (its name is also PostgreSQL's schema behind FerretDB). */
  databaseName: string;
  /** Counts database and Redis operations into this file (_count-db-ops.ts); off when undefined. */
  opsFile?: string;
  gatewayDir?: string;
  replicas?: number;
}

/** The gateway as the check-in benches run it: its own database and Redis prefix, errors-only logging. */
export function startBenchGateway(options: BenchGatewayOptions): Promise<GatewayProcesses> {
  const mongodbUri = new URL(options.mongodbUri);
  mongodbUri.pathname = `/${options.databaseName}`;
  // tsx first: the counter is TypeScript too (spawnTs puts these before its own --import tsx).
  const counter = options.opsFile
    ? ['--import', 'tsx', '--import', pathToFileURL(path.join(import.meta.dirname, '_count-db-ops.ts')).href]
    : [];
  return startGateway({
    gatewayDir: options.gatewayDir,
    replicas: options.replicas,
    env: {
      MONGODB_URI: mongodbUri.toString(),
      REDIS_URL: options.redisUrl,
      GATEWAY_REDIS__PREFIX: `bench-${randomBytes(3).toString('hex')}`,
      GATEWAY_SECURITY__MASTER_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
      PROFILE_DIR: process.env.PROFILE_DIR,
      DB_OPS_FILE: options.opsFile,
      ...ONE_CLIENT_MANY_DEVICES,
    },
    nodeArgs: [...counter, ...(process.env.GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
  });
}

export interface EnrolledFleet {
  devices: SimulatedDevice[];
  seconds: number;
  enrollmentsPerSecond: number;
}

/** Enrolls `count` devices, 16 at a time, all through `agent`; throws when any fails. */
export async function enrollGatewayFleet(
  url: string,
  count: number,
  agent: Agent,
  deviceOptions: Omit<Partial<SimulatedDeviceOptions>, 'agents' | 'baseUrl'> = {},
): Promise<EnrolledFleet> {
  const fleet = await simulateFleet({
    count,
    concurrency: 16,
    baseUrl: url,
    publicUrl: 'https://gateway.test',
    poll: false,
    keepDevices: true,
    deviceOptions: () => ({ ...deviceOptions, agents: { http: agent } }),
    mint: mintEnrollment(url),
  });
  if (fleet.failed > 0)
    throw new Error(`${fleet.failed} devices failed to enroll: ${JSON.stringify(fleet.errors.slice(0, 3))}`);
  return {
    devices: fleet.devices ?? [],
    seconds: fleet.wallMs / 1000,
    enrollmentsPerSecond: fleet.enrollmentsPerSecond,
  };
}

/** Every device record's id, page by page. */
async function deviceIds(url: string): Promise<string[]> {
  type Page = { items: { id: string }[]; nextCursor: string | null };
  const ids: string[] = [];
  let cursor: string | null = '';
  while (cursor !== null) {
    const query: string = cursor ? `&cursor=${cursor}` : '';
    const page = (await (await fetch(`${url}/api/mdm/devices?limit=200${query}`, { headers })).json()) as Page;
    ids.push(...page.items.map((d) => d.id));
    cursor = page.nextCursor;
  }
  return ids;
}

/**
 * Queues `commandsPerDevice` DeviceInformation commands for every device, one admin API request per command,
 * 16 requests at a time. Returns the seconds it took.
 */
export async function queueGatewayCommands(url: string, commandsPerDevice: number): Promise<number> {
  const started = performance.now();
  const ids = await deviceIds(url);
  await inBatches(ids, 16, async (id) => {
    for (let i = 0; i < commandsPerDevice; i++) {
      const res = await fetch(`${url}/api/mdm/devices/${id}/commands`, {
        method: 'POST',
        headers,
        body: '{"requestType":"DeviceInformation"}',
      });
      if (res.status !== 202) throw new Error(`enqueue failed: ${res.status}`);
    }
  });
  return (performance.now() - started) / 1000;
}
