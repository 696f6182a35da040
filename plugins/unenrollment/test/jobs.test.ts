import { expect } from 'chai';
import { eventually } from '../../../test/support/eventually.js';
import { recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { enrolledDevice, finished, keepPolling, mongo, service } from './support.js';

describe('unenrollment jobs: one per unenrollment', function () {
  this.timeout(90_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway({
      label: 'unenrolljobs',
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
      config: {
        plugins: {
          // The sweep would hide a start that no job picks up: it runs only every ten minutes here.
          // The first job sleeps 30 s between looks at the device: only a job of its own makes the second run sooner.
          unenrollment: { acknowledgementTimeoutMs: 60_000, pollIntervalMs: 30_000, sweepIntervalMs: 600_000 },
        },
      },
    });
  });
  after(async () => {
    await gw?.stop();
  });

  it('a start() while the previous unenrollment of the device is still finishing runs at once, in its own job', async () => {
    const { device, id } = await enrolledDevice(gw, 'kim');
    await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'kim' } });
    // The first job waits for the device, which does not answer: it sleeps until its next look, 30 s later.
    await eventually(async () => {
      const current = await service(gw).get(id);
      expect(current?.steps.some((s) => s.name.startsWith('remove-') && s.state === 'running')).to.equal(true);
    });
    const blockedAt = Date.now();
    const firstEnrollment = (await service(gw).get(id))?.enrollmentId;

    device.discardIdentity();
    await enrolledDevice(gw, 'kim', device);
    const polling = keepPolling(device);
    const second = await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'kim' } });
    const done = await finished(gw, id, 8_000);
    await polling.stop();
    expect(done.enrollmentId).to.equal(second.enrollmentId);
    expect(done.state).to.equal('completed');
    // Done well before the first job's next look: the second did not wait behind it (nor for a sweep).
    expect(Date.now() - blockedAt).to.be.below(20_000);
    const first = await mongo(gw)
      .collection('unenrollments')
      .findOne({ deviceId: id, enrollmentId: { $ne: second.enrollmentId } });
    expect(first?.enrollmentId).to.be.a('string').and.equal(firstEnrollment);
    // The second's answers woke the first job too: it saw the new enrollment and finished without it.
    await eventually(async () => {
      const again = await mongo(gw).collection('unenrollments').findOne({ _id: first?._id });
      expect(again?.state).to.equal('completed');
    }, 40_000);
  });
});
