/**
 * The soak's concurrent loops, each bounded in count and time: devices woken by pushes and polling, commands
 * enqueued through the admin API, retirements, faults, and the drain at the end.
 */
import { randomUUID } from 'node:crypto';
import type { AdminClient } from './admin.js';
import { type FaultName, type FaultRecord, type FaultTargets, injectFault } from './faults.js';
import { type DeviceLog, newDeviceLog, runSession, type SoakDevice } from './fleet.js';
import { waitForRetirements } from './verify.js';

const COMMAND_TYPES = ['DeviceInformation', 'ProfileList', 'ManagedApplicationList', 'InstalledApplicationList'];
const SESSION_CONCURRENCY = 24;
const POLL_EVERY_MS = 15_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SoakRun {
  readonly log: DeviceLog = newDeviceLog();
  /** CommandUUIDs the soak created (the devices answer only these NotNow or Error). */
  readonly soakCommands = new Set<string>();
  /** Commands the admin API accepted (202, or 409 for a retry of one it had queued), by device id. */
  readonly enqueued = new Map<string, string[]>();
  readonly uncertain: string[] = [];
  readonly faultRecords: FaultRecord[] = [];
  private readonly lastSession = new Map<SoakDevice, number>();
  private running = 0;
  private stopWaking = false;

  constructor(
    readonly devices: SoakDevice[],
    private readonly admin: AdminClient,
    readonly targets: FaultTargets,
    readonly endAt: number,
  ) {}

  active(): SoakDevice[] {
    return this.devices.filter((d) => !d.retiring && !d.removed);
  }

  private async session(d: SoakDevice): Promise<void> {
    if (d.busy || d.removed || this.running >= SESSION_CONCURRENCY) return;
    this.running++;
    this.lastSession.set(d, Date.now());
    await runSession(d, this.log, this.soakCommands).finally(() => {
      this.running--;
    });
  }

  /** Pushes the stand-in accepted wake their device; every device also polls every POLL_EVERY_MS. */
  async wakeLoop(): Promise<void> {
    const byToken = new Map(this.devices.map((d) => [d.tokenHex, d]));
    const requests = this.targets.standin.requests;
    let pushIndex = 0;
    while (!this.stopWaking) {
      const woken = new Set<SoakDevice>();
      for (; pushIndex < requests.length; pushIndex++) {
        const d = requests[pushIndex].outcome === 200 ? byToken.get(requests[pushIndex].token) : undefined;
        if (d) woken.add(d);
      }
      const now = Date.now();
      for (const d of this.devices) if (now - (this.lastSession.get(d) ?? 0) > POLL_EVERY_MS) woken.add(d);
      for (const d of woken) void this.session(d);
      await sleep(200);
    }
  }

  stopWakeLoop(): void {
    this.stopWaking = true;
  }

  /** Every second, N/20 commands to random enrolled devices, each with its own CommandUUID. */
  async enqueueLoop(): Promise<void> {
    const perTick = Math.max(1, Math.round(this.devices.length / 20));
    for (let tick = 0; Date.now() < this.endAt && tick < 100_000; tick++) {
      const candidates = this.active();
      const picks = Array.from({ length: Math.min(perTick, candidates.length) }, () => {
        return candidates[Math.floor(Math.random() * candidates.length)];
      });
      await Promise.all(picks.map((d) => this.enqueueOne(d)));
      await sleep(1_000);
    }
  }

  private async enqueueOne(d: SoakDevice): Promise<void> {
    const commandUuid = randomUUID().toUpperCase();
    const requestType = COMMAND_TYPES[Math.floor(Math.random() * COMMAND_TYPES.length)];
    this.soakCommands.add(commandUuid);
    const res = await this.admin
      .request('POST', `/api/mdm/devices/${d.deviceId}/commands`, { requestType, commandUuid })
      .catch(() => undefined);
    // 409: an earlier attempt of this same request was queued and its answer lost.
    if (res && (res.status === 202 || res.status === 409)) {
      this.enqueued.set(d.deviceId, [...(this.enqueued.get(d.deviceId) ?? []), commandUuid]);
    } else this.uncertain.push(`${commandUuid}:${res?.status ?? 'no answer'}`);
  }

  /** 5 % of the devices (2 to 25) retired through the admin API during the first 70 % of the run. */
  async retireLoop(runMs: number): Promise<void> {
    const retireCount = Math.max(2, Math.min(25, Math.round(this.devices.length * 0.05)));
    for (let i = 0; i < retireCount && Date.now() < this.endAt; i++) {
      const candidates = this.active();
      const d = candidates[Math.floor(Math.random() * candidates.length)];
      if (!d || candidates.length < 2) break;
      d.retiring = true;
      await this.admin.expect('POST', `/api/unenrollment/devices/${d.deviceId}/retire`, {}, [200, 202]);
      await sleep((runMs * 0.7) / retireCount);
    }
  }

  /** The faults in turn until the run's end. */
  async faultLoop(faults: readonly FaultName[], runMs: number): Promise<void> {
    if (faults.length === 0) return;
    const gapMs = Math.max(2_000, Math.min(20_000, runMs / (faults.length * 2) - 5_000));
    await sleep(Math.min(5_000, runMs / 4));
    for (let i = 0; Date.now() < this.endAt && i < 500; i++) {
      const fault = faults[i % faults.length];
      const record = await injectFault(fault, this.targets);
      this.faultRecords.push(record);
      const recovered = record.recoveredMs === undefined ? 'NOT recovered' : `back in ${record.recoveredMs} ms`;
      console.log(`soak: ${fault}: ${record.detail}; /readyz ${recovered}`);
      await sleep(gapMs);
    }
  }

  /** Devices keep polling until nothing changes and the retirements are done (at most 40 rounds, 2 minutes). */
  async drain(): Promise<void> {
    const started = Date.now();
    let lastAccepted = -1;
    for (let round = 0; round < 40 && Date.now() - started < 120_000; round++) {
      await inPool(
        this.devices.filter((d) => !d.removed),
        SESSION_CONCURRENCY,
        (d) => runSession(d, this.log, this.soakCommands),
      );
      const acceptedNow = [...this.log.accepted.values()].reduce((n, a) => n + a.length, 0);
      const retiringOpen = (await waitForRetirements(this.admin, this.devices, 0)) > 0;
      if (acceptedNow === lastAccepted && !retiringOpen) break;
      lastAccepted = acceptedNow;
      await sleep(1_000);
    }
    await waitForRetirements(this.admin, this.devices, 60_000);
  }
}

async function inPool<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}
