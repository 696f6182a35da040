/**
 * The soak's devices: simulated iPhones enrolled through the real path, each answering its MDM sessions itself and
 * keeping its own log of every answer the gateway accepted (HTTP 200), which the end-of-run checks compare with the
 * admin API's command history.
 */
import { createHash } from 'node:crypto';
import {
  errorChain,
  parseCommandEnvelope,
  type SimulatedDevice,
  simulateFleet,
} from '../../test/support/device-simulator.js';
import type { AdminClient } from './admin.js';
import { SOAK_PUBLIC_URL } from './gateway.js';

type ReportValue = Parameters<SimulatedDevice['sendReport']>[0][string];

export interface SoakDevice {
  index: number;
  device: SimulatedDevice;
  deviceId: string;
  tokenHex: string;
  busy: boolean;
  /** Retirement asked through the admin API. */
  retiring: boolean;
  /** The device answered the removal of its MDM profile and checked out. */
  removed: boolean;
}

export interface DeviceLog {
  sessions: number;
  sessionFailures: number;
  /** Answers to soak commands the gateway accepted with 200, by CommandUUID, in order. */
  accepted: Map<string, string[]>;
  /** Soak commands this device already answered NotNow once (the next delivery is answered for real). */
  notNowGiven: Set<string>;
  statusCounts: Record<string, number>;
}

export const newDeviceLog = (): DeviceLog => ({
  sessions: 0,
  sessionFailures: 0,
  accepted: new Map(),
  notNowGiven: new Set(),
  statusCounts: {},
});

/** How a device answers a soak command: 10 % NotNow once, 10 % Error, the rest as the simulated device does. */
export function plannedAnswer(commandUuid: string): 'NotNow' | 'Error' | 'normal' {
  const r = createHash('sha256').update(commandUuid).digest()[0] / 256;
  return r < 0.1 ? 'NotNow' : r < 0.2 ? 'Error' : 'normal';
}

/** Every device's id by UDID, read page by page (one search per device would read the fleet once per device). */
async function deviceIdsByUdid(admin: AdminClient): Promise<Map<string, string>> {
  type Page = { items: { id: string; udid: string }[]; nextCursor: string | null };
  const ids = new Map<string, string>();
  let cursor: string | null = '';
  while (cursor !== null) {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = (await admin.expect('GET', `/api/mdm/devices?limit=200${query}`, undefined, [200])).body as Page;
    for (const item of page.items) {
      if (ids.has(item.udid)) throw new Error(`device ${item.udid} listed twice by the admin API`);
      ids.set(item.udid, item.id);
    }
    cursor = page.nextCursor;
  }
  return ids;
}

export async function enrollFleet(
  count: number,
  urls: readonly string[],
  admin: AdminClient,
): Promise<{ devices: SoakDevice[]; wallMs: number }> {
  const summary = await simulateFleet({
    count,
    concurrency: Math.min(16, count),
    baseUrl: urls[0],
    publicUrl: SOAK_PUBLIC_URL,
    poll: false,
    keepDevices: true,
    deviceOptions: (index) => ({ baseUrl: urls[index % urls.length] }),
    mint: async (index) => {
      const res = await admin.expect('POST', '/api/mdm/enrollments', { userId: `soak-user-${index}` }, [201]);
      return (res.body as { profileUrl: string }).profileUrl;
    },
  });
  if (summary.failed > 0 || !summary.devices) {
    throw new Error(`enrollment: ${summary.failed} of ${count} failed: ${JSON.stringify(summary.errors.slice(0, 3))}`);
  }
  const ids = await deviceIdsByUdid(admin);
  const devices: SoakDevice[] = [];
  for (const [index, device] of summary.devices.entries()) {
    const deviceId = ids.get(device.udid);
    if (!deviceId) throw new Error(`device ${device.udid} not listed by the admin API`);
    devices.push({
      index,
      device,
      deviceId,
      tokenHex: device.pushToken.toString('hex'),
      busy: false,
      retiring: false,
      removed: false,
    });
  }
  return { devices, wallMs: summary.wallMs };
}

/**
 * One MDM session, as after a push: Idle, then an answer to each command until the server has none. A failed
 * request (a replica killed, a 503 while Redis is down) ends the session; the command stays queued for the next.
 */
export async function runSession(soak: SoakDevice, log: DeviceLog, soakCommands: ReadonlySet<string>): Promise<void> {
  if (soak.busy || soak.removed) return;
  soak.busy = true;
  log.sessions++;
  const { device } = soak;
  let report: Record<string, ReportValue> = { UDID: device.udid, Status: 'Idle' };
  let pendingUuid: string | undefined;
  let removing = false;
  try {
    for (let step = 0; step < 60; step++) {
      const result = await device.sendReport(report);
      log.statusCounts[result.status] = (log.statusCounts[result.status] ?? 0) + 1;
      if (result.status !== 200) {
        log.sessionFailures++;
        return;
      }
      if (pendingUuid) {
        const answers = log.accepted.get(pendingUuid) ?? [];
        answers.push(String(report.Status));
        log.accepted.set(pendingUuid, answers);
      }
      if (removing) {
        // After removing its MDM profile an iPhone stops talking MDM and checks out.
        soak.removed = true;
        await device.checkOut().catch(() => undefined);
        return;
      }
      if (result.body.length === 0) return;
      const { commandUuid, command } = parseCommandEnvelope(result.body);
      const plan = soakCommands.has(commandUuid) ? plannedAnswer(commandUuid) : 'normal';
      pendingUuid = soakCommands.has(commandUuid) ? commandUuid : undefined;
      if (plan === 'NotNow' && !log.notNowGiven.has(commandUuid)) {
        log.notNowGiven.add(commandUuid);
        report = { UDID: device.udid, CommandUUID: commandUuid, Status: 'NotNow' };
      } else if (plan === 'Error') {
        report = {
          UDID: device.udid,
          CommandUUID: commandUuid,
          Status: 'Error',
          ErrorChain: errorChain(12021, 'MCMDMErrorDomain', 'Soak: scripted error'),
        };
      } else {
        const answer = device.state.answer(command);
        removing = answer.unenrolled === true;
        report = {
          UDID: device.udid,
          CommandUUID: commandUuid,
          Status: answer.status,
          ...answer.keys,
          ErrorChain: answer.errorChain,
        };
      }
    }
  } catch {
    log.sessionFailures++;
  } finally {
    soak.busy = false;
  }
}
