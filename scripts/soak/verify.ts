/**
 * The end-of-run checks: every soak command in the admin API's history exactly once, answered or still queued, and
 * matching what the device says it answered; every retirement finished; retired devices refused, the others served.
 */
import type { AdminClient } from './admin.js';
import type { DeviceLog, SoakDevice } from './fleet.js';

export interface CommandTally {
  enqueued: number;
  answered: number;
  acknowledged: number;
  errors: number;
  notNowThenAnswered: number;
  stillQueued: number;
  cancelledByRetirement: number;
  lost: number;
  duplicated: number;
  mismatched: number;
  lostExamples: string[];
}

export interface DeviceTally {
  retired: number;
  retirementsAsked: number;
  retirementsUnfinished: number;
  retiredRefused: number;
  retiredStillServed: number;
  activeServed: number;
  activeRefused: number;
}

interface HistoryItem {
  commandUuid: string;
  state: string;
}

async function history(admin: AdminClient, deviceId: string): Promise<HistoryItem[]> {
  const items: HistoryItem[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const query: string = cursor ? `&cursor=${cursor}` : '';
    const res = await admin.expect('GET', `/api/mdm/devices/${deviceId}/commands?limit=200${query}`, undefined, [200]);
    const body = res.body as { items: HistoryItem[]; nextCursor: string | null };
    items.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) break;
  }
  return items;
}

const FINAL: Record<string, string> = {
  acknowledged: 'Acknowledged',
  error: 'Error',
  'format-error': 'CommandFormatError',
};
const PENDING = new Set(['queued', 'sent', 'not-now']);

export async function checkCommands(
  admin: AdminClient,
  devices: readonly SoakDevice[],
  enqueued: ReadonlyMap<string, string[]>,
  log: DeviceLog,
): Promise<CommandTally> {
  const tally: CommandTally = {
    enqueued: 0,
    answered: 0,
    acknowledged: 0,
    errors: 0,
    notNowThenAnswered: 0,
    stillQueued: 0,
    cancelledByRetirement: 0,
    lost: 0,
    duplicated: 0,
    mismatched: 0,
    lostExamples: [],
  };
  const lost = (what: string) => {
    tally.lost++;
    if (tally.lostExamples.length < 10) tally.lostExamples.push(what);
  };
  for (const soak of devices) {
    const uuids = enqueued.get(soak.deviceId) ?? [];
    if (uuids.length === 0) continue;
    const byUuid = new Map<string, HistoryItem[]>();
    for (const item of await history(admin, soak.deviceId)) {
      byUuid.set(item.commandUuid, [...(byUuid.get(item.commandUuid) ?? []), item]);
    }
    for (const uuid of uuids) {
      tally.enqueued++;
      const found = byUuid.get(uuid) ?? [];
      const accepted = (log.accepted.get(uuid) ?? []).filter((s) => s !== 'NotNow');
      if (found.length > 1 || accepted.length > 1) tally.duplicated++;
      if (found.length === 0) {
        lost(`${uuid}: not in the history of ${soak.deviceId}`);
        continue;
      }
      const { state } = found[0];
      if (FINAL[state]) {
        tally.answered++;
        if (state === 'acknowledged') tally.acknowledged++;
        else tally.errors++;
        if (log.notNowGiven.has(uuid)) tally.notNowThenAnswered++;
        // The gateway recorded an answer the device never gave: a mix-up.
        if (accepted.length > 0 && accepted[0] !== FINAL[state]) tally.mismatched++;
      } else if (PENDING.has(state)) {
        // The device says the gateway accepted its final answer, yet the command is still pending: the answer is lost.
        if (accepted.length > 0) lost(`${uuid}: answered ${accepted[0]} (HTTP 200) but still ${state}`);
        else tally.stillQueued++;
      } else if (state === 'cancelled' && soak.retiring) {
        tally.cancelledByRetirement++;
      } else {
        lost(`${uuid}: ${state} on a device that was not retired`);
      }
    }
  }
  return tally;
}

export async function checkDevices(admin: AdminClient, devices: readonly SoakDevice[]): Promise<DeviceTally> {
  const tally: DeviceTally = {
    retired: 0,
    retirementsAsked: 0,
    retirementsUnfinished: 0,
    retiredRefused: 0,
    retiredStillServed: 0,
    activeServed: 0,
    activeRefused: 0,
  };
  for (const soak of devices) {
    const idle = async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const res = await soak.device.sendReport({ UDID: soak.device.udid, Status: 'Idle' }).catch(() => undefined);
        if (res && res.status < 500) return res.status;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      return 0;
    };
    if (soak.retiring) {
      tally.retirementsAsked++;
      const res = await admin.expect('GET', `/api/mdm/devices/${soak.deviceId}`, undefined, [200]);
      const state = (res.body as { state: string }).state;
      if (state === 'retired') tally.retired++;
      else tally.retirementsUnfinished++;
      const status = await idle();
      if (status === 403 || status === 410) tally.retiredRefused++;
      else tally.retiredStillServed++;
    } else {
      const status = await idle();
      if (status === 200) tally.activeServed++;
      else tally.activeRefused++;
    }
  }
  return tally;
}

/** Waits (bounded; 0: one look) until every asked retirement reached `retired`; returns how many did not. */
export async function waitForRetirements(
  admin: AdminClient,
  devices: readonly SoakDevice[],
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const open = new Set(devices.filter((d) => d.retiring));
  for (let look = 0; open.size > 0 && (look === 0 || Date.now() < deadline); look++) {
    for (const soak of [...open]) {
      const res = await admin.request('GET', `/api/mdm/devices/${soak.deviceId}`);
      if (res.status === 200 && (res.body as { state: string }).state === 'retired') open.delete(soak);
    }
    if (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1_000));
  }
  return open.size;
}
