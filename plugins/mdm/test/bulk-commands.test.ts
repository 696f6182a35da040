import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { type SimulatedDevice, simulateFleet } from '../../../test/support/device-simulator.js';
import {
  adminHeaders,
  fixtureUserDirectory,
  recordingPush,
  TEST_TOPIC,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';

const PUBLIC_URL = 'https://gateway.test';
const PROFILE_FILE = new URL('./fixtures/webclip.mobileconfig', import.meta.url);
/** npm test keeps to a fleet that enrolls in seconds; `BULK_TEST_DEVICES=1000 npm test -- <this file>` is the 1,000-device run. */
const FLEET = Number(process.env.BULK_TEST_DEVICES ?? 24);

type Run = {
  id: string;
  commandUuid: string;
  total: number;
  outcomes: Record<string, number>;
  devices: { deviceId: string; outcome: string }[];
};
type Progress = Run & { commands: Record<string, number>; finished: boolean; devices: { state?: string }[] };

describe('mdm bulk commands: one request, many devices', function () {
  // Enrolling the fleet dominates: allow about half a second per device beyond the default fleet.
  this.timeout(180_000 + FLEET * 500);
  let gw: TestGateway;
  const push = recordingPush({ topic: TEST_TOPIC });
  const directory = fixtureUserDirectory({ groups: ['g-sales'] });
  let devices: SimulatedDevice[];
  const idOf = new Map<string, string>();
  const userOf = (index: number) => `user-${index % 3}`;

  const post = (path: string, body: unknown) =>
    gw.fetch(path, { method: 'POST', headers: adminHeaders(), body: JSON.stringify(body) });
  const progress = async (id: string) =>
    (await (await gw.fetch(`/api/mdm/bulk/commands/${id}`, { headers: adminHeaders() })).json()) as Progress;
  const pollAll = async (list: SimulatedDevice[]) => {
    const answered: number[] = [];
    for (let i = 0; i < list.length; i += 16) {
      answered.push(...(await Promise.all(list.slice(i, i + 16).map(async (d) => (await d.poll()).length))));
    }
    return answered;
  };

  before(async () => {
    for (const n of [0, 1, 2]) {
      directory.users.set(`user-${n}`, {
        id: `user-${n}`,
        upn: `user-${n}@example.com`,
        displayName: `User ${n}`,
        enabled: true,
        groups: n === 1 ? ['g-sales'] : [],
      });
    }
    gw = await startTestGateway({
      label: 'mdmbulk',
      enable: ['mdm', 'admin-access', 'admin-center'],
      plugins: [testAdminTokens, push.plugin, directory.plugin],
    });
    const fleet = await simulateFleet({
      count: FLEET,
      concurrency: 12,
      baseUrl: gw.url,
      publicUrl: PUBLIC_URL,
      keepDevices: true,
      poll: false,
      mint: async (index) => {
        const res = await post('/api/mdm/enrollments', { userId: userOf(index) });
        return ((await res.json()) as { profileUrl: string }).profileUrl;
      },
    });
    expect(fleet.enrolled, JSON.stringify(fleet.errors)).to.equal(FLEET);
    devices = fleet.devices ?? [];
    const list = (await (await gw.fetch('/api/mdm/devices?limit=200', { headers: adminHeaders() })).json()) as {
      items: { id: string; udid: string }[];
      nextCursor: string | null;
    };
    let page = list;
    for (const d of page.items) idOf.set(d.udid, d.id);
    while (page.nextCursor) {
      page = (await (
        await gw.fetch(`/api/mdm/devices?limit=200&cursor=${page.nextCursor}`, { headers: adminHeaders() })
      ).json()) as typeof list;
      for (const d of page.items) idOf.set(d.udid, d.id);
    }
    expect(idOf.size).to.equal(FLEET);
  });
  after(() => gw?.stop());

  it('queues InstallProfile from a .mobileconfig file to every device in one request; each device installs it', async () => {
    const ids = devices.map((d) => idOf.get(d.udid) as string);
    push.woken.length = 0;
    const res = await post('/api/mdm/bulk/commands', {
      target: { deviceIds: [...ids, '0123456789abcdef01234567'] },
      command: { requestType: 'InstallProfile', payload: { Payload: readFileSync(PROFILE_FILE).toString('base64') } },
    });
    expect(res.status).to.equal(202);
    const run = (await res.json()) as Run;
    expect(run.total).to.equal(FLEET + 1);
    expect(run.outcomes).to.deep.equal({ queued: FLEET, 'not-managed': 1 });
    // One wake per device, coalesced by the push service as for single commands.
    expect(new Set(push.woken.flat())).to.deep.equal(new Set(ids));
    expect(push.woken.flat()).to.have.length(FLEET);
    // One audit entry for the operation.
    const audit = (await (
      await gw.fetch('/api/admin/audit-log?action=mdm.command.bulk-enqueue', { headers: adminHeaders() })
    ).json()) as { items: { target: { id: string } }[] };
    expect(audit.items.filter((e) => e.target.id === run.id)).to.have.length(1);
    expect((await progress(run.id)).commands).to.deep.equal({ queued: FLEET });

    const answered = await pollAll(devices);
    expect(answered.every((n) => n === 1)).to.equal(true);
    for (const device of devices) expect(device.state.profiles.has('com.example.intranet'), device.udid).to.equal(true);
    const done = await progress(run.id);
    expect(done.commands).to.deep.equal({ acknowledged: FLEET });
    expect(done.finished).to.equal(true);
    const listed = (await (await gw.fetch('/api/mdm/bulk/commands', { headers: adminHeaders() })).json()) as {
      items: { id: string }[];
    };
    expect(listed.items.map((i) => i.id)).to.include(run.id);
    // Progress in the admin center.
    const html = { headers: { ...adminHeaders(), accept: 'text/html' } };
    const page = await (await gw.fetch(`/admin/bulk/${run.id}`, html)).text();
    expect(page).to.include(`${FLEET} of ${FLEET} answered`).and.include('data-finished');
    expect(page).to.include(`<span data-count="acknowledged">acknowledged: ${FLEET}</span>`);
    expect(await (await gw.fetch('/admin/bulk', html)).text()).to.include(`href="/admin/bulk/${run.id}"`);
  });

  it('targets a device filter and a user group', async () => {
    const byFilter = (await (
      await post('/api/mdm/bulk/commands', {
        target: { filter: { userId: 'user-0', state: 'enrolled' } },
        command: { requestType: 'DeviceLock', payload: { Message: 'Lost?' } },
      })
    ).json()) as Run;
    const expected = devices.filter((_d, i) => userOf(i) === 'user-0').map((d) => idOf.get(d.udid));
    expect(byFilter.devices.map((d) => d.deviceId).sort()).to.deep.equal(expected.sort());
    const byGroup = (await (
      await post('/api/mdm/bulk/commands', { target: { group: 'g-sales' }, command: { requestType: 'SecurityInfo' } })
    ).json()) as Run;
    const members = devices.filter((_d, i) => userOf(i) === 'user-1').map((d) => idOf.get(d.udid));
    expect(byGroup.devices.map((d) => d.deviceId).sort()).to.deep.equal(members.sort());
    expect(byGroup.outcomes).to.deep.equal({ queued: members.length });
    await pollAll(devices);
    expect((await progress(byGroup.id)).commands).to.deep.equal({ acknowledged: members.length });
  });

  it('cancels a bulk operation where the command still waits, and the devices get nothing', async () => {
    const ids = devices.map((d) => idOf.get(d.udid) as string);
    const run = (await (
      await post('/api/mdm/bulk/commands', { target: { deviceIds: ids }, command: { requestType: 'ProfileList' } })
    ).json()) as Run;
    // One device fetches it first: it cannot be taken back there.
    expect(await devices[0].poll()).to.have.length(1);
    const res = await post('/api/mdm/bulk/cancellations', { operationId: run.id });
    expect(res.status).to.equal(200);
    const cancel = (await res.json()) as Run;
    expect(cancel.outcomes).to.deep.equal({ cancelled: FLEET - 1, 'not-waiting': 1 });
    expect((await pollAll(devices)).reduce((a, b) => a + b, 0)).to.equal(0);
    const after = await progress(run.id);
    expect(after.commands).to.deep.equal({ acknowledged: 1, cancelled: FLEET - 1 });
    expect(after.finished).to.equal(true);
  });

  it('refuses a bad target or command per field and records nothing', async () => {
    const before = (await (await gw.fetch('/api/mdm/bulk/commands?limit=100', { headers: adminHeaders() })).json()) as {
      items: unknown[];
    };
    const cases: [unknown, string[]][] = [
      [{ target: {}, command: { requestType: 'SecurityInfo' } }, ['target']],
      [
        { target: { deviceIds: ['x'], group: 'g' }, command: { requestType: 'SecurityInfo' } },
        ['target', 'target.deviceIds.0'],
      ],
      [{ target: { group: 'nobody' }, command: { requestType: 'SecurityInfo' } }, ['target']],
      [
        { target: { group: 'g-sales' }, command: { requestType: 'InstallProfile', payload: { Payload: 'AAAA' } } },
        ['command.payload.Payload'],
      ],
    ];
    for (const [body, paths] of cases) {
      const res = await post('/api/mdm/bulk/commands', body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      const problem = (await res.json()) as { issues: { path: string }[] };
      expect(problem.issues.map((i) => i.path).sort(), JSON.stringify(body)).to.deep.equal(paths.sort());
    }
    const after = (await (await gw.fetch('/api/mdm/bulk/commands?limit=100', { headers: adminHeaders() })).json()) as {
      items: unknown[];
    };
    expect(after.items).to.have.length(before.items.length);
  });
});
