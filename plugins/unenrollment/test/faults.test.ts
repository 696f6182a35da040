import { expect } from 'chai';
import { errorChain } from '../../../test/support/device-simulator.js';
import { eventually } from '../../../test/support/eventually.js';
import { recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
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
  mongo,
  retireByAdmin,
  SSO_PROFILE,
  service,
  stepStates,
  unenrolledRecorder,
} from './support.js';

const ACK_TIMEOUT_MS = 15_000;

describe('unenrollment faults: each ends in one consistent retired state', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  const events = unenrolledRecorder();

  before(async () => {
    gw = await startTestGateway({
      label: 'unenrollfault',
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin, events.plugin],
      config: {
        plugins: {
          unenrollment: { acknowledgementTimeoutMs: ACK_TIMEOUT_MS, pollIntervalMs: 100, retryBackoffMs: 50 },
        },
      },
    });
  });
  after(() => gw?.stop());

  /** Each removal reached the device once, one event and one audit record were written, no step ran twice. */
  async function assertRetiredOnce(id: string) {
    const done = await finished(gw, id);
    expect(done.state).to.equal('completed');
    expect(done.steps.map((s) => `${s.name}:${s.state}:${s.attempts}`)).to.deep.equal(
      done.steps.map((s) => `${s.name}:done:1`),
    );
    expect(await mongo(gw).collection('unenrollments').countDocuments({ deviceId: id })).to.equal(1);
    expect(await commandsOf(gw, id, 'RemoveApplication')).to.have.length(1);
    expect(await commandsOf(gw, id, 'RemoveProfile')).to.have.length(2);
    expect(events.seen.filter((e) => e.deviceId === id)).to.have.length(1);
    const audit = await mongo(gw)
      .collection('audit_log')
      .countDocuments({ action: 'device.unenroll', 'target.id': id });
    expect(audit).to.equal(1);
    expect((await deviceRecord(gw, done.udid)).state).to.equal('retired');
    expect((await certificatesOf(gw, done.deviceId)).every((c) => c.revokedAt)).to.equal(true);
    return done;
  }

  it('double clicks on Remove start one unenrollment and send each removal once', async () => {
    const { device, id } = await enrolledDevice(gw, 'erin');
    const request = { deviceId: id, trigger: 'user' as const, requestedBy: { kind: 'user' as const, id: 'erin' } };
    const clicks = await Promise.all(Array.from({ length: 5 }, () => service(gw).start(request)));
    expect(new Set(clicks.map((c) => new Date(c.startedAt).getTime())).size).to.equal(1);
    const polling = keepPolling(device);
    const done = await assertRetiredOnce(id);
    await polling.stop();
    // After removing its MDM profile the phone checks out (CheckOutWhenRemoved); that joins as a request too.
    expect(done.requests?.map((r) => `${r.trigger}:${r.requestedBy.id}`)).to.deep.equal([
      'user:erin',
      `checkout:${device.udid}`,
    ]);
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
  });

  it('an admin and the user removing the same device at once share one unenrollment', async () => {
    const { device, id } = await enrolledDevice(gw, 'fay');
    const [admin, user, again] = await Promise.all([
      retireByAdmin(gw, id),
      service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'fay' } }),
      retireByAdmin(gw, id),
    ]);
    expect(admin.status).to.equal(202);
    expect(again.status).to.equal(202);
    expect(((await admin.json()) as { startedAt: string }).startedAt).to.equal(new Date(user.startedAt).toISOString());
    const polling = keepPolling(device);
    const done = await assertRetiredOnce(id);
    await polling.stop();
    expect(done.requests?.map((r) => r.trigger).sort()).to.deep.equal(['admin', 'checkout', 'user']);
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
  });

  it('a CheckOut mid-wipe skips the remote steps still open and finishes without waiting for the timeout', async () => {
    const { device, id } = await enrolledDevice(gw, 'gus');
    await retireByAdmin(gw, id);
    await eventually(async () => {
      const current = await service(gw).get(id);
      expect(current?.steps.find((s) => s.name === `remove-profile:${SSO_PROFILE}`)?.state).to.equal('running');
    });
    // The phone answers the first removal, then its user deletes the management profile in Settings.
    const answered = await device.poll({ stopAfter: 1 });
    expect(answered.map((a) => a.requestType)).to.deep.equal(['RemoveApplication']);
    const checkedOutAt = Date.now();
    await device.checkOut();
    const done = await finished(gw, id);
    expect(Date.now() - checkedOutAt).to.be.lessThan(ACK_TIMEOUT_MS / 2);
    expect(done.state).to.equal('completed');
    const states = stepStates(done);
    expect(states).to.include({
      'cancel-queued-commands': 'done',
      [`remove-app:${AUTHENTICATOR}`]: 'done',
      [`remove-profile:${SSO_PROFILE}`]: 'skipped',
      [`remove-mdm-profile:${MDM_PROFILE}`]: 'skipped',
    });
    expect(done.steps.find((s) => s.name === `remove-profile:${SSO_PROFILE}`)?.detail).to.match(/checked out/);
    const serverSide = done.steps.slice(4);
    expect(serverSide.map((s) => `${s.name}:${s.state}:${s.attempts}`)).to.deep.equal(
      serverSide.map((s) => `${s.name}:done:1`),
    );
    expect(done.requests?.map((r) => r.trigger)).to.deep.equal(['admin', 'checkout']);
    // The MDM profile removal was never sent; the SSO removal the device got but never answered was cancelled.
    expect((await commandsOf(gw, id, 'RemoveProfile')).map((c) => c.state)).to.deep.equal(['cancelled']);
    expect(events.seen.filter((e) => e.deviceId === id)).to.have.length(1);
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
  });

  it('a phone that enrolls again while its retirement waits keeps its new enrollment untouched', async () => {
    const { device, id } = await enrolledDevice(gw, 'ida');
    device.silent = true;
    await retireByAdmin(gw, id);
    await eventually(async () => {
      const current = await service(gw).get(id);
      expect(current?.steps.find((s) => s.name === `remove-app:${AUTHENTICATOR}`)?.state).to.equal('running');
    });
    device.silent = false;
    device.discardIdentity();
    await enrolledDevice(gw, 'ida', device);
    const done = await finished(gw, id);
    expect(done.state).to.equal('completed');
    const states = stepStates(done);
    expect(states[`remove-mdm-profile:${MDM_PROFILE}`]).to.equal('skipped');
    for (const name of ['clear-command-queue', 'erase-secrets', 'mark-retired', 'announce']) {
      expect(states[name], name).to.equal('skipped');
    }
    expect(done.steps.find((s) => s.name === 'erase-secrets')?.detail).to.match(/enrolled again/);
    // The old removals were cancelled by the new Authenticate; nothing was sent to the new enrollment.
    expect((await commandsOf(gw, id, 'RemoveApplication')).map((c) => c.state)).to.deep.equal(['cancelled']);
    expect(await commandsOf(gw, id, 'RemoveProfile')).to.have.length(1);
    expect(await deviceRecord(gw, device.udid)).to.include({ state: 'enrolled', pushable: true });
    expect((await certificatesOf(gw, id)).some((c) => !c.revokedAt)).to.equal(true);
    expect((await device.sendReport({ UDID: device.udid, Status: 'Idle' })).status).to.equal(200);
    expect([...device.state.apps.keys()]).to.include(AUTHENTICATOR);
    expect(events.seen.filter((e) => e.deviceId === id)).to.have.length(0);
  });

  it('a removal the device answers with an error is recorded as failed, and the rest carries on', async () => {
    const { device, id } = await enrolledDevice(gw, 'hal');
    device.script({
      RequestType: 'RemoveApplication',
      respond: 'Error',
      errorChain: errorChain(12029, 'MCMDMErrorDomain', 'The app “com.azure.authenticator” is not managed.'),
    });
    const polling = keepPolling(device);
    await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'hal' } });
    const done = await finished(gw, id);
    await polling.stop();
    expect(done.state).to.equal('completed');
    const app = done.steps.find((s) => s.name === `remove-app:${AUTHENTICATOR}`);
    expect(app).to.include({ state: 'failed', attempts: 1 });
    expect(app?.detail).to.equal('the device answered Error: The app “com.azure.authenticator” is not managed.');
    expect(stepStates(done)[`remove-mdm-profile:${MDM_PROFILE}`]).to.equal('done');
    await assertIdentityRefused(device);
  });
});
