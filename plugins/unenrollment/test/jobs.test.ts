import { expect } from 'chai';
import { definePlugin } from 'enrollment-gateway/sdk';
import { eventually } from '../../../test/support/eventually.js';
import { recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { enrolledDevice, finished, keepPolling, mongo, service } from './support.js';

/** Holds the first device.unenrolled until released, so the job that raised it stays active meanwhile. */
function blockingSubscriber() {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let blocked = false;
  const plugin = definePlugin({
    name: 'blocking-subscriber',
    version: '1.0.0',
    coreApi: '^1.0.0',
    register(api) {
      api.on('device.unenrolled', async () => {
        if (blocked) return;
        blocked = true;
        await held;
      });
    },
  });
  return { plugin, release: () => release() };
}

describe('unenrollment jobs: one per unenrollment', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  const subscriber = blockingSubscriber();

  before(async () => {
    gw = await startTestGateway({
      label: 'unenrolljobs',
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin, subscriber.plugin],
      config: {
        plugins: {
          // The sweep would hide a start that no job picks up: it runs only every ten minutes here.
          unenrollment: { acknowledgementTimeoutMs: 5_000, pollIntervalMs: 100, sweepIntervalMs: 600_000 },
        },
      },
    });
  });
  after(async () => {
    subscriber.release();
    await gw?.stop();
  });

  it('a start() while the previous unenrollment of the device is still finishing runs at once, in its own job', async () => {
    const { device, id } = await enrolledDevice(gw, 'kim');
    let polling = keepPolling(device);
    await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'kim' } });
    // The first job is in its last step and stays there until released.
    await eventually(async () => {
      const current = await service(gw).get(id);
      expect(current?.steps.find((s) => s.name === 'announce')?.state).to.equal('running');
    });
    await polling.stop();
    const blockedAt = Date.now();

    device.discardIdentity();
    await enrolledDevice(gw, 'kim', device);
    polling = keepPolling(device);
    const second = await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'kim' } });
    const done = await finished(gw, id, 8_000);
    await polling.stop();
    expect(done.enrollmentId).to.equal(second.enrollmentId);
    expect(done.state).to.equal('completed');
    // The first one is still held in its last step: the second did not wait behind it (nor for a sweep).
    const first = await mongo(gw)
      .collection('unenrollments')
      .findOne({ deviceId: id, enrollmentId: { $ne: second.enrollmentId } });
    expect(first?.state, `${Date.now() - blockedAt} ms after the block`).to.equal('in-progress');

    subscriber.release();
    await eventually(async () => {
      const again = await mongo(gw).collection('unenrollments').findOne({ _id: first?._id });
      expect(again?.state).to.equal('completed');
    });
  });
});
