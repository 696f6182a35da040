import { expect } from 'chai';
import { deviceDirectoryRef, deviceRetirementRef, pushTargetSourcesPoint } from 'enrollment-gateway/sdk';
import pino from 'pino';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { DeviceSecrets } from '../src/services/device-secrets.js';
import type { PushCredentialDoc } from '../src/storage/device-records.js';
import { mdmModels } from '../src/storage/models.js';

const PUBLIC_URL = 'https://gateway.test';

describe('mdm crypto-erase: device secrets under a per-device data key', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  const ctx = () => gw.gateway.context('mdm');
  const secrets = () => new DeviceSecrets(mdmModels(ctx().mongo), ctx().keyVault, pino({ level: 'silent' }));
  const credentials = () => ctx().mongo.collection<PushCredentialDoc>('mdm_push_credentials');
  const pushTargets = () => ctx().extensions(pushTargetSourcesPoint)[0].value;
  const enrolled = async (userId: string) => {
    const mint = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(((await mint.json()) as { profileUrl: string }).profileUrl);
    await device.enroll();
    const record = (await ctx().resolve(deviceDirectoryRef).getByUdid(device.udid))!;
    const doc = (await credentials().findOne({ deviceId: record.id })) as PushCredentialDoc;
    return { device, doc, id: record.id };
  };

  before(async () => {
    gw = await startTestGateway({
      label: 'cryptoerase',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  });
  after(() => gw?.stop());

  it('stores push token, PushMagic and UnlockToken only encrypted, and pushes with them', async () => {
    const { device, doc, id } = await enrolled('alice');
    const text = JSON.stringify(doc);
    for (const secret of [device.pushToken.toString('hex'), device.pushMagic, device.unlockToken.toString('base64')]) {
      expect(text).not.to.include(secret);
    }
    expect(doc.pushTokenEncrypted).to.match(/^v1\./);
    expect(doc.unlockTokenEncrypted).to.match(/^v1\./);
    expect(await secrets().openUnlockToken(doc)).to.deep.equal(device.unlockToken);
    expect(await pushTargets().get([id])).to.deep.equal([
      { deviceId: id, token: device.pushToken.toString('hex'), pushMagic: device.pushMagic, topic: TEST_TOPIC },
    ]);
    const key = await ctx()
      .mongo.collection('mdm_device_keys')
      .findOne({ _id: id as never });
    expect(key?.enrollmentId).to.equal(doc.enrollmentId);
    expect(JSON.stringify(key)).not.to.include(device.unlockToken.toString('base64'));
  });

  it('erasing destroys the data key: a backup copy of the device record can no longer be read', async () => {
    const { device, doc: backup, id } = await enrolled('bob');
    const result = await ctx()
      .resolve(deviceRetirementRef)
      .eraseSecrets({ deviceId: id, enrollmentId: backup.enrollmentId });
    expect(result).to.deep.equal({
      applied: true,
      removed: ['push token', 'PushMagic', 'UnlockToken', 'device data key'],
    });
    expect(await credentials().countDocuments({ deviceId: id })).to.equal(0);
    expect(
      await ctx()
        .mongo.collection('mdm_device_keys')
        .countDocuments({ _id: id as never }),
    ).to.equal(0);
    // The copy taken before still holds the ciphertexts, but nothing can open them any more.
    expect(backup.unlockTokenEncrypted).to.be.a('string');
    expect(await secrets().openUnlockToken(backup)).to.equal(undefined);
    expect((await secrets().openPushSecrets([backup])).size).to.equal(0);
    expect(await pushTargets().get([id])).to.deep.equal([]);
    // Erasing again is harmless.
    expect((await ctx().resolve(deviceRetirementRef).eraseSecrets({ deviceId: id })).removed).to.deep.equal([]);
    expect(device.enrolled).to.equal(true);
  });

  it('leaves a newer enrollment of the device alone', async () => {
    const { device, doc: first, id } = await enrolled('carol');
    const mint = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'carol' }),
    });
    device.discardIdentity();
    await device.downloadProfile(((await mint.json()) as { profileUrl: string }).profileUrl);
    await device.enroll();
    const retirement = ctx().resolve(deviceRetirementRef);
    const stale = { deviceId: id, enrollmentId: first.enrollmentId };
    expect(await retirement.eraseSecrets(stale)).to.deep.equal({ applied: false, removed: [] });
    expect(await retirement.complete(stale)).to.deep.equal({ applied: false, removed: [] });
    expect((await retirement.clearCommands(stale)).applied).to.equal(false);
    expect((await retirement.revokeIdentity(stale, 'test')).applied).to.equal(false);
    expect((await device.sendReport({ UDID: device.udid, Status: 'Idle' })).status).to.equal(200);
    expect(await pushTargets().get([id])).to.have.length(1);
    expect((await ctx().resolve(deviceDirectoryRef).get(id))?.state).to.equal('enrolled');
  });
});
