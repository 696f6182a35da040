import { expect } from 'chai';
import { definePlugin, deviceDirectoryRef, managedItemsPoint } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventually } from '../../../test/support/eventually.js';
import {
  adminHeaders,
  fixtureUserDirectory,
  recordingPush,
  TEST_TOPIC,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { presenceFlushed } from '../../../test/support/presence.js';
import {
  AUTHENTICATOR,
  assertIdentityRefused,
  assertNothingSecretLeft,
  certificatesOf,
  commandsOf,
  deviceRecord,
  enrolledDevice,
  finished,
  keepPolling,
  MDM_PROFILE,
  mint,
  mongo,
  PUBLIC_URL,
  retireByAdmin,
  SSO_PROFILE,
  service,
  stepStates,
  unenrolledRecorder,
} from './support.js';

const SERVER_STEPS = [
  'revoke-certificates',
  'clear-command-queue',
  'erase-secrets',
  'mark-retired',
  'audit-record',
  'announce',
];

/** Another plugin that installed an app on some devices, and one whose answers are broken. */
const extraApps = new Set<string>();
const partnerItems = definePlugin({
  name: 'partner-items',
  version: '1.0.0',
  coreApi: '^2.0.0',
  optionalDependsOn: ['unenrollment'],
  register(api) {
    api.contribute(managedItemsPoint, () => ({
      installedOn: async (deviceId) =>
        extraApps.has(deviceId)
          ? [
              { kind: 'application' as const, identifier: 'com.example.field-app' },
              { kind: 'profile' as const, identifier: ' padded.identifier ' },
            ]
          : [],
    }));
  },
});
const brokenItems = definePlugin({
  name: 'broken-items',
  version: '1.0.0',
  coreApi: '^2.0.0',
  optionalDependsOn: ['unenrollment'],
  register(api) {
    api.contribute(managedItemsPoint, () => ({
      installedOn: async () => {
        throw new Error('partner database unavailable');
      },
    }));
  },
});

describe('unenrollment: every trigger takes a simulated iPhone out of management', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  const events = unenrolledRecorder();
  const directory = fixtureUserDirectory({
    users: [{ id: 'bob', upn: 'bob@example.com', displayName: 'Bob', enabled: true, groups: [] }],
  });

  before(async () => {
    gw = await startTestGateway({
      label: 'unenroll',
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment'],
      plugins: [
        testAdminTokens,
        recordingPush({ topic: TEST_TOPIC }).plugin,
        directory.plugin,
        events.plugin,
        partnerItems,
        brokenItems,
      ],
      config: {
        plugins: {
          unenrollment: {
            acknowledgementTimeoutMs: 2_500,
            pollIntervalMs: 100,
            retryBackoffMs: 50,
            sweepIntervalMs: 1_000,
            inactivityDays: 30,
            inactivityCheckIntervalMs: 300,
          },
        },
      },
    });
  });
  after(() => gw?.stop());

  it('user: removes Authenticator, the SSO profile and then the MDM profile; the identity is refused and no secret is left', async () => {
    const { device, id } = await enrolledDevice(gw);
    const polling = keepPolling(device);
    const started = await service(gw).start({
      deviceId: id,
      trigger: 'user',
      requestedBy: { kind: 'user', id: 'alice', displayName: 'Alice' },
    });
    expect(started.state).to.equal('in-progress');
    expect(started.steps.map((s) => s.name)).to.deep.equal([
      'cancel-queued-commands',
      `remove-app:${AUTHENTICATOR}`,
      `remove-profile:${SSO_PROFILE}`,
      `remove-mdm-profile:${MDM_PROFILE}`,
      ...SERVER_STEPS,
    ]);
    const done = await finished(gw, id);
    await polling.stop();
    expect(done.state).to.equal('completed');
    expect(Object.values(stepStates(done))).to.deep.equal(Array(done.steps.length).fill('done'));
    expect(done.steps.map((s) => `${s.name}:${s.attempts}`)).to.deep.equal(done.steps.map((s) => `${s.name}:1`));

    // The device removed exactly what the gateway installed, the MDM profile last, and checked out.
    const removals = device.exchanges
      .filter((e) => e.phase === 'command' && e.request?.CommandUUID)
      .map((e) => e.request?.CommandUUID);
    const uuidOf = (name: string) => done.steps.find((s) => s.name === name)?.commandUuid;
    expect(removals.slice(-3)).to.deep.equal([
      uuidOf(`remove-app:${AUTHENTICATOR}`),
      uuidOf(`remove-profile:${SSO_PROFILE}`),
      uuidOf(`remove-mdm-profile:${MDM_PROFILE}`),
    ]);
    expect([...device.state.apps.keys()]).not.to.include(AUTHENTICATOR);
    expect([...device.state.profiles.keys()]).not.to.include.members([SSO_PROFILE, MDM_PROFILE]);
    expect(device.enrolled).to.equal(false);

    expect((await deviceRecord(gw, device.udid)).state).to.equal('retired');
    const certificates = await certificatesOf(gw, id);
    expect(certificates.length).to.be.greaterThan(0);
    expect(certificates.every((c) => c.revokedAt)).to.equal(true);
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);

    expect(events.seen.filter((e) => e.deviceId === id)).to.deep.equal([
      {
        deviceId: id,
        udid: device.udid,
        reason: 'user',
        unreachable: false,
        eventId: `unenrolled:${id}:${done.enrollmentId}`,
      },
    ]);
    const audit = await mongo(gw)
      .collection('audit_log')
      .find({ action: 'device.unenroll', 'target.id': id })
      .toArray();
    expect(audit).to.have.length(1);
    expect(audit[0].after.requests[0]).to.include({ trigger: 'user', by: 'user:alice' });
    expect(audit[0].after.removed).to.include.members([
      `RemoveApplication ${AUTHENTICATOR}`,
      `RemoveProfile ${SSO_PROFILE}`,
      `RemoveProfile ${MDM_PROFILE}`,
      'push token',
      'PushMagic',
      'UnlockToken',
      'device data key',
    ]);
  });

  it('admin: retires one device through the API and shows each step while it runs, and what each did', async () => {
    const { device, id } = await enrolledDevice(gw);
    const record = await deviceRecord(gw, device.udid);
    expect((await retireByAdmin(gw, id, 'reader')).status).to.equal(403);
    const res = await retireByAdmin(gw, id);
    expect(res.status).to.equal(202);
    const body = (await res.json()) as { trigger: string; requestedBy: { kind: string; id: string } };
    expect(body).to.deep.include({
      trigger: 'admin',
      requestedBy: { kind: 'admin', id: 'test-admin', displayName: 'Test Admin' },
    });

    const progress = async () => {
      const r = await gw.fetch(`/api/unenrollment/devices/${id}`, { headers: adminHeaders('reader') });
      expect(r.status).to.equal(200);
      return (await r.json()) as { state: string; steps: { name: string; state: string; detail?: string }[] };
    };
    const waiting = await eventually(async () => {
      const p = await progress();
      expect(p.steps.find((s) => s.name === `remove-app:${AUTHENTICATOR}`)?.state).to.equal('running');
      return p;
    });
    expect(waiting.state).to.equal('in-progress');
    expect(waiting.steps.find((s) => s.name === 'erase-secrets')?.state).to.equal('pending');

    const polling = keepPolling(device);
    const done = await finished(gw, id);
    await polling.stop();
    expect(done.state).to.equal('completed');
    const shown = await progress();
    expect(shown.state).to.equal('completed');
    expect(shown.steps.find((s) => s.name === 'revoke-certificates')?.detail).to.match(/^\d+ identity certificates?$/);
    expect(shown.steps.find((s) => s.name === `remove-mdm-profile:${MDM_PROFILE}`)?.detail).to.equal(
      'removed by the device',
    );
    // Every step says what it did; none that did its work claims there was nothing to do.
    const details = Object.fromEntries(shown.steps.map((s) => [s.name, s.detail ?? '']));
    for (const [name, detail] of Object.entries(details)) {
      expect(detail, name).to.not.equal('');
      expect(detail, name).to.not.match(/nothing to do/);
    }
    expect(details['mark-retired']).to.equal('recorded as retired: its identity is refused from now on');
    expect(details['audit-record']).to.match(/^audit record device\.unenroll written \(\d+ removals?\)$/);
    expect(details.announce).to.equal(`announced device.unenrolled (event unenrolled:${id}:${record.enrollmentId})`);
    await assertIdentityRefused(device);
    const audit = await mongo(gw)
      .collection('audit_log')
      .find({ action: 'unenrollment.retire', 'target.id': id })
      .toArray();
    expect(audit).to.have.length(1);
  });

  it('checkout: the user deleted the profile in Settings; nothing is sent, the server side is cleaned up', async () => {
    const { device, id } = await enrolledDevice(gw);
    const before = (await commandsOf(gw, id)).length;
    await device.checkOut();
    const done = await finished(gw, id);
    expect(done.trigger).to.equal('checkout');
    expect(done.requestedBy).to.deep.equal({ kind: 'device', id: device.udid });
    expect(done.state).to.equal('completed');
    const states = stepStates(done);
    for (const step of done.steps.slice(0, 4)) {
      expect(step.state, step.name).to.equal('skipped');
      expect(step.detail).to.match(/CheckOut/);
    }
    for (const name of SERVER_STEPS) expect(states[name], name).to.equal('done');
    expect(await commandsOf(gw, id)).to.have.length(before);
    expect((await deviceRecord(gw, device.udid)).state).to.equal('retired');
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
    expect(events.seen.filter((e) => e.deviceId === id).map((e) => e.reason)).to.deep.equal(['checkout']);
  });

  it('inactivity: a device silent for longer than the policy is retired, and marked unreachable when it never answers', async () => {
    const { device, id } = await enrolledDevice(gw);
    device.silent = true;
    // Its enrollment was seen: once that reached the record, the record is made old (time passing).
    await presenceFlushed(gw.gateway.context('mdm').redis, gw.gateway.context('mdm').redisKeyPrefix);
    await mongo(gw)
      .collection('mdm_presence')
      .updateOne({ _id: id as never }, { $set: { lastSeenAt: new Date(Date.now() - 31 * 86_400_000) } });
    const done = await finished(gw, id);
    expect(done.trigger).to.equal('inactivity');
    expect(done.requestedBy).to.include({ kind: 'system', id: 'inactivity-policy' });
    expect(done.state).to.equal('device-unreachable');
    const states = stepStates(done);
    expect(states[`remove-app:${AUTHENTICATOR}`]).to.equal('timed-out');
    expect(states[`remove-profile:${SSO_PROFILE}`]).to.equal('timed-out');
    expect(states[`remove-mdm-profile:${MDM_PROFILE}`]).to.equal('skipped');
    for (const name of SERVER_STEPS) expect(states[name], name).to.equal('done');
    // The removals never reached the device and were cancelled; the MDM profile removal was never sent.
    const removals = await commandsOf(gw, id, 'RemoveApplication');
    expect(removals.map((c) => c.state)).to.deep.equal(['cancelled']);
    expect((await commandsOf(gw, id, 'RemoveProfile')).map((c) => c.state)).to.deep.equal(['cancelled']);
    device.silent = false;
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
    expect(events.seen.filter((e) => e.deviceId === id)).to.deep.equal([
      {
        deviceId: id,
        udid: device.udid,
        reason: 'inactivity',
        unreachable: true,
        eventId: `unenrolled:${id}:${done.enrollmentId}`,
      },
    ]);
  });

  it('admin: retires every device of a disabled user in bulk, and cancels their unused enrollment links', async () => {
    const first = await enrolledDevice(gw, 'bob');
    const second = await enrolledDevice(gw, 'bob');
    const link = await mint(gw, 'bob');
    const retireBob = () => gw.fetch('/api/unenrollment/users/bob/retire', { method: 'POST', headers: adminHeaders() });
    expect((await retireBob()).status).to.equal(409);
    expect(
      (await gw.fetch('/api/unenrollment/users/nobody/retire', { method: 'POST', headers: adminHeaders() })).status,
    ).to.equal(404);
    const bob = directory.users.get('bob');
    if (!bob) throw new Error('bob is missing from the fixture');
    directory.users.set('bob', { ...bob, enabled: false });
    const res = await retireBob();
    expect(res.status).to.equal(202);
    const body = (await res.json()) as { unenrollments: { deviceId: string }[]; cancelledEnrollments: number };
    expect(body.unenrollments.map((u) => u.deviceId).sort()).to.deep.equal([first.id, second.id].sort());
    expect(body.cancelledEnrollments).to.equal(1);
    const pollers = [keepPolling(first.device), keepPolling(second.device)];
    for (const { id } of [first, second]) expect((await finished(gw, id)).state).to.equal('completed');
    await Promise.all(pollers.map((p) => p.stop()));
    for (const { device } of [first, second]) await assertIdentityRefused(device);
    const late = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    const refused = (await late.downloadProfile(link).catch((e: unknown) => e)) as { status?: number };
    expect(refused.status).to.equal(410);
  });

  it('re-enrollment: the same iPhone enrolls again, starts clean, and can be retired again', async () => {
    const { device, id } = await enrolledDevice(gw, 'carol');
    let polling = keepPolling(device);
    await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'carol' } });
    const first = await finished(gw, id);
    await polling.stop();
    await assertIdentityRefused(device);

    device.discardIdentity();
    await enrolledDevice(gw, 'carol', device);
    const record = await deviceRecord(gw, device.udid);
    expect(record.id).to.equal(id);
    expect(record).to.include({ state: 'enrolled', pushable: true });
    expect(record.enrollmentId).not.to.equal(first.enrollmentId);
    const key = await mongo(gw)
      .collection('mdm_device_keys')
      .findOne({ _id: id as never });
    expect(key?.enrollmentId).to.equal(record?.enrollmentId);
    // The finished unenrollment is history: it names the earlier enrollment.
    expect((await service(gw).get(id))?.enrollmentId).to.equal(first.enrollmentId);

    polling = keepPolling(device);
    const again = await service(gw).start({
      deviceId: id,
      trigger: 'user',
      requestedBy: { kind: 'user', id: 'carol' },
    });
    expect(again.enrollmentId).to.equal(record?.enrollmentId);
    const second = await finished(gw, id);
    await polling.stop();
    expect(second.state).to.equal('completed');
    expect(second.startedAt.getTime()).to.be.greaterThan(first.startedAt.getTime());
    expect(await mongo(gw).collection('unenrollments').countDocuments({ deviceId: id })).to.equal(2);
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
  });

  it("removes other plugins' apps too; a malformed item and a failing contributor are left out", async () => {
    const { device, id } = await enrolledDevice(gw, 'erin');
    const install = await gw.fetch(`/api/mdm/devices/${id}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({
        requestType: 'InstallApplication',
        payload: { Identifier: 'com.example.field-app', ManagementFlags: 1 },
      }),
    });
    expect(install.status).to.equal(202);
    await device.poll();
    expect([...device.state.apps.keys()]).to.include('com.example.field-app');
    extraApps.add(id);
    const polling = keepPolling(device);
    const started = await service(gw).start({
      deviceId: id,
      trigger: 'user',
      requestedBy: { kind: 'user', id: 'erin' },
    });
    expect(started.steps.map((s) => s.name)).to.deep.equal([
      'cancel-queued-commands',
      `remove-app:${AUTHENTICATOR}`,
      `remove-profile:${SSO_PROFILE}`,
      'remove-app:com.example.field-app',
      `remove-mdm-profile:${MDM_PROFILE}`,
      ...SERVER_STEPS,
    ]);
    const done = await finished(gw, id);
    await polling.stop();
    expect(done.state).to.equal('completed');
    expect(stepStates(done)['remove-app:com.example.field-app']).to.equal('done');
    expect([...device.state.apps.keys()]).not.to.include('com.example.field-app');
    expect(gw.logs.some((l) => l.msg === 'extension failed' && l.contributor === 'broken-items')).to.equal(true);
    expect(
      gw.logs.some((l) => String(l.msg).startsWith('ignored a managed item') && l.contributor === 'partner-items'),
    ).to.equal(true);
  });

  it('refuses bad requests with a clear 4xx and starts nothing', async () => {
    const { id } = await enrolledDevice(gw, 'dana');
    expect((await retireByAdmin(gw, '0123456789abcdef01234567')).status).to.equal(404);
    expect((await retireByAdmin(gw, 'not-an-id')).status).to.equal(400);
    expect((await gw.fetch(`/api/unenrollment/devices/${id}/retire`, { method: 'POST' })).status).to.equal(401);
    expect((await gw.fetch(`/api/unenrollment/devices/${id}`, { headers: adminHeaders() })).status).to.equal(404);
    const notHers = await service(gw)
      .start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'mallory' } })
      .catch((e: { status?: number }) => e);
    expect((notHers as { status?: number }).status).to.equal(403);
    const bogus = await service(gw)
      .start({ deviceId: id, trigger: 'wipe' as never, requestedBy: { kind: 'user', id: 'dana' } })
      .catch((e: { status?: number }) => e);
    expect((bogus as { status?: number }).status).to.equal(400);
    expect(await service(gw).get(id)).to.equal(undefined);
    expect((await gw.gateway.context('mdm').resolve(deviceDirectoryRef).get(id))?.state).to.equal('enrolled');
  });
});
