/**
 * The measured phase the check-in benches share (checkin.ts, nanomdm.ts): enrolled simulated devices each run
 * one MDM session (Idle, then answer every queued command until the server answers with an empty body),
 * `workers` devices at a time, while the CPU of the processes named in `cpu` is read before and after.
 */
import type { SimulatedDevice } from '../../test/support/device-simulator.js';
import { inBatches } from './_fleet.js';
import { percentiles } from './_stats.js';

export interface PollSessionsOptions<Part extends string> {
  workers: number;
  /** CPU seconds used so far by each measured part (a process, or a sum over several). */
  cpu: Record<Part, () => number>;
  /** Run after the CPU is first read and before the sessions start (e.g. a signal that starts profiling). */
  beforeSessions?: () => Promise<void>;
  /** Run after the sessions and before the CPU is read again. */
  afterSessions?: () => Promise<void>;
}

export interface PollSessionsResult<Part extends string> {
  /** Commands the devices answered Acknowledged: each one is a poll → command → report round trip. */
  acknowledged: number;
  /** Signed requests sent (one Idle per device plus one report per command). */
  requests: number;
  seconds: number;
  /** Latency of the devices' signed requests during the phase. */
  latencyMs: { p50: number; p99: number };
  /** CPU seconds of each part during the phase; `simulator` is this process (signing, plists, HTTP client). */
  cpuSeconds: Record<Part | 'simulator', number>;
}

function readCpu<Part extends string>(cpu: Record<Part, () => number>): Record<Part, number> {
  const entries = Object.entries<() => number>(cpu).map(([part, read]) => [part, read()] as const);
  return Object.fromEntries(entries) as Record<Part, number>;
}

export async function measurePollSessions<Part extends string>(
  devices: readonly SimulatedDevice[],
  options: PollSessionsOptions<Part>,
): Promise<PollSessionsResult<Part>> {
  const cpuBefore = readCpu(options.cpu);
  const clientBefore = process.cpuUsage();
  await options.beforeSessions?.();
  let acknowledged = 0;
  let requests = 0;
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  const startedAt = new Date();
  await inBatches(devices, options.workers, async (device) => {
    const answered = await device.poll();
    acknowledged += answered.filter((a) => a.status === 'Acknowledged').length;
    requests += answered.length + 1;
    for (const e of device.exchanges) if (e.phase === 'command' && e.at >= startedAt) latencies.push(e.durationMs);
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await options.afterSessions?.();
  const cpuAfter = readCpu(options.cpu);
  const client = process.cpuUsage(clientBefore);
  const cpuSeconds = Object.fromEntries(
    Object.keys(cpuAfter).map((part) => [part, +(cpuAfter[part as Part] - cpuBefore[part as Part]).toFixed(2)]),
  ) as Record<Part, number>;
  const latency = percentiles(latencies);
  return {
    acknowledged,
    requests,
    seconds,
    latencyMs: { p50: latency.p50, p99: latency.p99 },
    cpuSeconds: { ...cpuSeconds, simulator: +((client.user + client.system) / 1e6).toFixed(2) },
  };
}

/** CPU milliseconds per round trip from CPU seconds (null stays null: a part that could not be measured). */
export function msPerRoundTrip(seconds: number | null, roundTrips: number): number | null {
  return seconds === null || Number.isNaN(seconds) ? null : +((seconds * 1000) / roundTrips).toFixed(2);
}
