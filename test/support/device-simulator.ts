/**
 * Simulated iPhones for e2e tests, `npm run simulate` and benchmarks.
 *
 *   const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: 'https://gateway.test' });
 *   await device.downloadProfile(profileUrl);   // verifies the CMS signature against the profile's root CA
 *   await device.enroll();                      // SCEP + Authenticate + TokenUpdate
 *   const answered = await device.poll();       // Idle, then answer commands until the server has none
 *
 * `simulateFleet` enrolls many devices concurrently (sharing pre-generated keys) and summarizes latencies.
 */

import { SimulatedDevice, type SimulatedDeviceOptions } from './device-simulator-device.js';
import { quantile, RsaKeyPool } from './device-simulator-http.js';

export {
  type AnsweredCommand,
  type EnrollTimings,
  type ExchangeRecord,
  parseCommandEnvelope,
  SimulatedDevice,
  type SimulatedDeviceOptions,
} from './device-simulator-device.js';
export {
  DeviceHttpError,
  DeviceSimulatorError,
  type ExchangePhase,
  type HttpResult,
  type RsaKeyPair,
  RsaKeyPool,
  rewriteUrl,
  type SimulatorFailureReason,
} from './device-simulator-http.js';
export { type DeviceInfo, type DeviceInfoOptions, defaultDeviceInfo } from './device-simulator-info.js';
export type { EnrollmentProfile, InstalledProfile, MdmSettings, ScepSettings } from './device-simulator-profile.js';
export type { DeviceIdentity } from './device-simulator-scep.js';
export {
  type CommandAnswer,
  type CommandScript,
  DeviceState,
  type ErrorChainEntry,
  errorChain,
  KNOWN_APPS,
  type ManagedApp,
} from './device-simulator-state.js';

export interface FleetOptions {
  count: number;
  /** Devices enrolling at the same time. Default 16. */
  concurrency?: number;
  baseUrl: string;
  publicUrl?: string;
  /** Returns the profile URL for device `index` (e.g. by calling the admin API). */
  mint: (index: number) => Promise<string>;
  /** Default: a pool of min(count, 16) keys reused round-robin (see `uniqueKeys`). */
  keyPool?: RsaKeyPool;
  /** Give every device its own freshly generated key (slower: ~50-100 ms of CPU per device). */
  uniqueKeys?: boolean;
  /** Run one poll session after enrolling. Default true. */
  poll?: boolean;
  /** Check out at the end. Default false. */
  checkOut?: boolean;
  /** Per-device overrides (UDID, OS version, …). */
  deviceOptions?: (index: number) => Partial<SimulatedDeviceOptions>;
  /** Return the SimulatedDevice objects in the summary (memory grows with count). */
  keepDevices?: boolean;
  onDeviceDone?: (index: number, outcome: { ok: boolean; error?: Error }) => void;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface FleetError {
  index: number;
  stage: FleetStage;
  message: string;
  reason?: string;
  status?: number;
}

type FleetStage = 'mint' | 'profile' | 'enroll' | 'poll' | 'checkout';

export interface FleetSummary {
  count: number;
  enrolled: number;
  failed: number;
  polled: number;
  checkedOut: number;
  commandsAnswered: number;
  wallMs: number;
  enrollmentsPerSecond: number;
  /** Milliseconds per stage; `total` spans mint → last step of the device. */
  timings: Record<'mint' | 'profile' | 'scep' | 'checkin' | 'poll' | 'total', LatencySummary>;
  /** The first 20 failures. */
  errors: FleetError[];
  devices?: SimulatedDevice[];
}

export function summarizeLatencies(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    p50: round(quantile(sorted, 0.5)),
    p90: round(quantile(sorted, 0.9)),
    p99: round(quantile(sorted, 0.99)),
    max: round(sorted.at(-1) ?? 0),
    mean: round(sorted.length ? sum / sorted.length : 0),
  };
}

/** Enrolls `count` devices, `concurrency` at a time. Failures are counted, not thrown. */
export async function simulateFleet(options: FleetOptions): Promise<FleetSummary> {
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 16, options.count));
  const keyPool =
    options.keyPool ??
    new RsaKeyPool({
      size: options.uniqueKeys ? concurrency : Math.min(options.count, 16),
      reuse: !options.uniqueKeys,
    });
  await keyPool.warm();
  const samples = { mint: [], profile: [], scep: [], checkin: [], poll: [], total: [] } as Record<
    keyof FleetSummary['timings'],
    number[]
  >;
  const errors: FleetError[] = [];
  const devices: SimulatedDevice[] = [];
  const counts = { enrolled: 0, failed: 0, polled: 0, checkedOut: 0, commands: 0 };
  let next = 0;
  const started = performance.now();

  async function runOne(index: number): Promise<void> {
    let stage: FleetStage = 'mint';
    const t0 = performance.now();
    try {
      const device = await SimulatedDevice.create({
        baseUrl: options.baseUrl,
        publicUrl: options.publicUrl,
        keyPool,
        ...options.deviceOptions?.(index),
      });
      if (options.keepDevices) devices.push(device);
      const profileUrl = await options.mint(index);
      const t1 = performance.now();
      samples.mint.push(t1 - t0);
      stage = 'profile';
      await device.downloadProfile(profileUrl);
      const t2 = performance.now();
      samples.profile.push(t2 - t1);
      stage = 'enroll';
      const timings = await device.enroll();
      samples.scep.push(timings.scepMs);
      samples.checkin.push(timings.authenticateMs + timings.tokenUpdateMs);
      counts.enrolled += 1;
      if (options.poll ?? true) {
        stage = 'poll';
        const t3 = performance.now();
        counts.commands += (await device.poll()).length;
        samples.poll.push(performance.now() - t3);
        counts.polled += 1;
      }
      if (options.checkOut) {
        stage = 'checkout';
        await device.checkOut();
        counts.checkedOut += 1;
      }
      samples.total.push(performance.now() - t0);
      options.onDeviceDone?.(index, { ok: true });
    } catch (error) {
      counts.failed += 1;
      const err = error as Error & { reason?: string; status?: number };
      if (errors.length < 20) {
        errors.push({ index, stage, message: err.message, reason: err.reason, status: err.status });
      }
      options.onDeviceDone?.(index, { ok: false, error: err });
    }
  }

  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < options.count) await runOne(next++);
    }),
  );
  const wallMs = performance.now() - started;
  return {
    count: options.count,
    enrolled: counts.enrolled,
    failed: counts.failed,
    polled: counts.polled,
    checkedOut: counts.checkedOut,
    commandsAnswered: counts.commands,
    wallMs: Math.round(wallMs),
    enrollmentsPerSecond: Math.round((counts.enrolled / (wallMs / 1000)) * 10) / 10,
    timings: {
      mint: summarizeLatencies(samples.mint),
      profile: summarizeLatencies(samples.profile),
      scep: summarizeLatencies(samples.scep),
      checkin: summarizeLatencies(samples.checkin),
      poll: summarizeLatencies(samples.poll),
      total: summarizeLatencies(samples.total),
    },
    errors,
    devices: options.keepDevices ? devices : undefined,
  };
}
