/**
 * Commands queued per second through the admin API, single (one POST per device) against bulk (one POST for every
 * device), on one gateway with `--devices` enrolled simulated devices (default 1,000). Then the acceptance
 * run: InstallProfile from a .mobileconfig file to every device in one request, each device polls and the
 * simulator installs it.
 *
 *   npm run bench -- enqueue [--devices 1000] [--single 300] [--concurrency 8]
 */
import { readFileSync } from 'node:fs';
import { simulateFleet } from '../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../test/support/fixture-plugins.js';
import { startTestGateway } from '../../test/support/gateway.js';
import { servicesForHarness, stopLocalServices } from '../lib/local-services.js';
import { option } from './_stats.js';

const PUBLIC_URL = 'https://gateway.test';
const PROFILE_FILE = new URL('../../plugins/mdm/test/fixtures/webclip.mobileconfig', import.meta.url);

async function inBatches<T>(items: readonly T[], size: number, each: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) await each(items[next++]);
    }),
  );
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const count = option(args, 'devices', 1000);
  const singles = Math.min(count, option(args, 'single', 300));
  const concurrency = option(args, 'concurrency', 8);
  await servicesForHarness();
  const push = recordingPush({ topic: TEST_TOPIC });
  const gw = await startTestGateway({
    label: 'benchenqueue',
    enable: ['mdm', 'admin-access'],
    plugins: [testAdminTokens, push.plugin],
  });
  try {
    const post = async (path: string, body: unknown, expected: number) => {
      const res = await gw.fetch(path, { method: 'POST', headers: adminHeaders(), body: JSON.stringify(body) });
      if (res.status !== expected) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<Record<string, unknown>>;
    };
    const t0 = performance.now();
    const fleet = await simulateFleet({
      count,
      concurrency: 16,
      baseUrl: gw.url,
      publicUrl: PUBLIC_URL,
      keepDevices: true,
      poll: false,
      mint: async () => (await post('/api/mdm/enrollments', { userId: 'bench' }, 201)).profileUrl as string,
    });
    const devices = fleet.devices ?? [];
    console.log(`${fleet.enrolled}/${count} devices enrolled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const listed = (await (
      await gw.fetch('/api/mdm/devices?userId=bench&limit=200', { headers: adminHeaders() })
    ).json()) as { items: { id: string; udid: string }[]; nextCursor: string | null };
    const ids: string[] = listed.items.map((d) => d.id);
    let cursor = listed.nextCursor;
    while (cursor) {
      const page = (await (
        await gw.fetch(`/api/mdm/devices?userId=bench&limit=200&cursor=${cursor}`, { headers: adminHeaders() })
      ).json()) as typeof listed;
      ids.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor;
    }

    // Single: one POST per device, `concurrency` at a time (each its own audit entry and wake).
    const t1 = performance.now();
    await inBatches(ids.slice(0, singles), concurrency, (id) =>
      post(`/api/mdm/devices/${id}/commands`, { requestType: 'SecurityInfo' }, 202),
    );
    const singleSeconds = (performance.now() - t1) / 1000;
    const singlePerSecond = Math.round(singles / singleSeconds);
    console.log(`single: ${singles} commands in ${singleSeconds.toFixed(2)} s: ${singlePerSecond}/s`);

    // Bulk: one POST for every device.
    const t2 = performance.now();
    await post('/api/mdm/bulk/commands', { target: { deviceIds: ids }, command: { requestType: 'ProfileList' } }, 202);
    const bulkSeconds = (performance.now() - t2) / 1000;
    const bulkPerSecond = Math.round(ids.length / bulkSeconds);
    console.log(`bulk: ${ids.length} commands in one request, ${bulkSeconds.toFixed(2)} s: ${bulkPerSecond}/s`);

    // The acceptance run: a profile from a file to every device in one request, installed by each.
    const t3 = performance.now();
    const install = await post(
      '/api/mdm/bulk/commands',
      {
        target: { deviceIds: ids },
        command: { requestType: 'InstallProfile', payload: { Payload: readFileSync(PROFILE_FILE).toString('base64') } },
      },
      202,
    );
    const installQueueSeconds = (performance.now() - t3) / 1000;
    await inBatches(devices, 16, (device) => device.poll());
    const installed = devices.filter((d) => d.state.profiles.has('com.example.intranet')).length;
    const progress = (await (
      await gw.fetch(`/api/mdm/bulk/commands/${install.id}`, { headers: adminHeaders() })
    ).json()) as { commands: Record<string, number>; finished: boolean };
    console.log(
      `InstallProfile from a file: queued for ${ids.length} in ${installQueueSeconds.toFixed(2)} s; installed on ${installed}; progress ${JSON.stringify(progress.commands)} finished=${progress.finished}`,
    );
    return {
      devices: count,
      enrolled: fleet.enrolled,
      singleCommands: singles,
      singlePerSecond,
      bulkCommands: ids.length,
      bulkPerSecond,
      bulkSpeedup: Math.round((bulkPerSecond / singlePerSecond) * 10) / 10,
      installProfileQueueSeconds: Math.round(installQueueSeconds * 100) / 100,
      installedOn: installed,
      acknowledged: progress.commands.acknowledged ?? 0,
    };
  } finally {
    await gw.stop();
    stopLocalServices();
  }
}
