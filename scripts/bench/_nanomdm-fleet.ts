/**
 * The check-in bench's set-up against NanoMDM (nanomdm.ts): the same simulated devices as against the gateway,
 * enrolled out of band (NanoMDM runs no SCEP: identities are issued directly by the CA it was started with, then
 * each device sends Authenticate and TokenUpdate, signed as always), and DeviceInformation commands queued
 * through NanoMDM's API, built exactly as the gateway builds them.
 */

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Agent } from 'node:http';
import type { CertificateAuthority } from '../../plugins/mdm/src/pki/index.js';
import { buildPlist, COMMAND_DEFINITIONS, USER_OWNED_ACCESS_RIGHTS } from '../../plugins/mdm/src/protocol/index.js';
import { RsaKeyPool, SimulatedDevice } from '../../test/support/device-simulator.js';
import { installOutOfBand } from '../../test/support/device-simulator-direct.js';
import { inBatches } from './_fleet.js';
import type { NanoMdmServer } from './_nanomdm-server.js';

/**
 * Creates `count` devices and enrolls them, 16 at a time, through `agent`. Keys come from a pool of 16 reused
 * round-robin, as simulateFleet does for the gateway, so both servers verify signatures by the same keys.
 */
export async function enrollNanoMdmFleet(
  server: NanoMdmServer,
  ca: CertificateAuthority,
  count: number,
  agent: Agent,
): Promise<SimulatedDevice[]> {
  const keyPool = new RsaKeyPool({ size: Math.min(count, 16), reuse: true });
  await keyPool.warm();
  const topic = `com.apple.mgmt.External.${randomUUID()}`;
  const devices: SimulatedDevice[] = [];
  await inBatches(
    Array.from({ length: count }, (_, index) => index),
    16,
    async () => {
      const keyPair = await keyPool.take();
      const device = await SimulatedDevice.create({ baseUrl: server.url, keyPair, agents: { http: agent } });
      installOutOfBand(device, {
        ca,
        keyPair,
        mdm: {
          serverUrl: `${server.url}/mdm`,
          checkInUrl: `${server.url}/checkin`,
          topic,
          accessRights: USER_OWNED_ACCESS_RIGHTS,
        },
      });
      await device.enroll();
      devices.push(device);
    },
  );
  return devices;
}

/**
 * Queues `commandsPerDevice` DeviceInformation commands (the gateway's default queries) for every device, one
 * API request per command, 16 requests at a time; `nopush` because the bench has no APNs certificate (the gateway
 * bench's push goes nowhere either). Returns the seconds it took.
 */
export async function queueNanoMdmCommands(
  server: NanoMdmServer,
  devices: readonly SimulatedDevice[],
  commandsPerDevice: number,
): Promise<number> {
  const started = performance.now();
  await inBatches(devices, 16, async (device) => {
    for (let i = 0; i < commandsPerDevice; i++) {
      const body = buildPlist(COMMAND_DEFINITIONS.DeviceInformation.build({}));
      const res = await fetch(`${server.url}/v1/enqueue/${device.udid}?nopush=1`, {
        method: 'PUT',
        headers: { authorization: server.apiAuthorization, 'content-type': 'application/x-apple-plist' },
        body,
      });
      if (!res.ok) throw new Error(`NanoMDM enqueue failed: ${res.status} ${await res.text()}`);
    }
  });
  return (performance.now() - started) / 1000;
}

/** Acknowledged results NanoMDM stored (its command_results table). */
export function acknowledgedInDatabase(server: NanoMdmServer): number {
  const out = execFileSync(
    'psql',
    [server.databaseUrl, '-Atc', "SELECT count(*) FROM command_results WHERE status = 'Acknowledged'"],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}
