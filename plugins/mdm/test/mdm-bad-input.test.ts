import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { createSelfSignedCertificate, signDetached } from '../src/pki/index.js';
import { buildPlist } from '../src/protocol/index.js';

const PUBLIC_URL = 'https://gateway.test';

describe('mdm: bad input from devices gets a 4xx (never 401) and changes nothing', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const statuses: number[] = [];

  const mint = async () => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'mallory' }),
    });
    return ((await res.json()) as { profileUrl: string }).profileUrl;
  };
  const enrolled = async () => {
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(await mint());
    await device.enroll();
    return device;
  };
  const put = async (path: string, body: Buffer, signature?: string) => {
    const res = await gw.fetch(path, {
      method: 'PUT',
      headers: {
        'content-type': 'application/x-apple-aspen-mdm-checkin',
        ...(signature ? { 'mdm-signature': signature } : {}),
      },
      body,
    });
    statuses.push(res.status);
    return res;
  };
  const counts = async () => {
    const db = gw.gateway.context('mdm').mongo;
    return {
      devices: await db.collection('mdm_devices').countDocuments(),
      commands: await db.collection('mdm_commands').countDocuments(),
      certificates: await db.collection('mdm_certificates').countDocuments(),
    };
  };

  before(async () => {
    gw = await startTestGateway({
      label: 'mdmbad',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  });
  after(async () => {
    await gw?.stop();
    expect(
      statuses.filter((s) => s === 401),
      'a device must never see 401',
    ).to.deep.equal([]);
  });

  it('refuses a check-in without Mdm-Signature (400)', async () => {
    const device = await enrolled();
    const before = await counts();
    const body = buildPlist({
      MessageType: 'TokenUpdate',
      UDID: device.udid,
      Topic: TEST_TOPIC,
      Token: Buffer.alloc(32, 1),
      PushMagic: 'x',
    });
    expect((await put('/mdm/checkin', body)).status).to.equal(400);
    expect(await counts()).to.deep.equal(before);
  });

  it('refuses a forged signature: a self-signed identity (403) and a signature over other bytes (403)', async () => {
    const device = await enrolled();
    const body = buildPlist({ MessageType: 'CheckOut', UDID: device.udid, Topic: TEST_TOPIC });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const selfSigned = createSelfSignedCertificate({
      subject: [{ type: 'CN', value: 'forger' }],
      privateKey,
      publicKey,
      validityDays: 1,
    });
    expect((await put('/mdm/checkin', body, signDetached(body, selfSigned.certPem, privateKey))).status).to.equal(403);
    const other = buildPlist({ MessageType: 'CheckOut', UDID: 'someone-else', Topic: TEST_TOPIC });
    expect((await put('/mdm/checkin', body, device.signBody(other))).status).to.equal(403);
    expect((await put('/mdm/checkin', body, 'bm90IGEgY21zIHNpZ25hdHVyZQ==')).status).to.equal(400);
    const record = await gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(device.udid);
    expect(record?.state).to.equal('enrolled');
  });

  it('refuses a valid identity used for another UDID (403)', async () => {
    const alice = await enrolled();
    const bob = await enrolled();
    const body = buildPlist({ MessageType: 'CheckOut', UDID: bob.udid, Topic: TEST_TOPIC });
    expect((await put('/mdm/checkin', body, alice.signBody(body))).status).to.equal(403);
    const authenticate = buildPlist({ MessageType: 'Authenticate', UDID: 'NEW-UDID-OF-A-THIEF', Topic: TEST_TOPIC });
    expect((await put('/mdm/checkin', authenticate, alice.signBody(authenticate))).status).to.equal(403);
    const report = buildPlist({ UDID: bob.udid, Status: 'Idle' });
    expect((await put('/mdm/connect', report, alice.signBody(report))).status).to.equal(403);
    expect(
      await gw.gateway.context('mdm').mongo.collection('mdm_devices').countDocuments({ udid: 'NEW-UDID-OF-A-THIEF' }),
    ).to.equal(0);
  });

  it('refuses a replayed SCEP challenge and a challenge of an expired session (CertRep FAILURE badRequest), issuing nothing', async () => {
    const first = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    const profileUrl = await mint();
    const bytes = Buffer.from(await (await gw.fetch(new URL(profileUrl).pathname)).arrayBuffer());
    first.installProfileFile(bytes);
    await first.obtainIdentity();
    const before = await counts();
    const replay = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    replay.installProfileFile(bytes);
    const error = await replay.obtainIdentity().catch((e: Error) => e);
    expect((error as Error).message).to.equal('SCEP CertRep FAILURE (failInfo badRequest)');
    const racedUrl = await mint();
    const racedBytes = Buffer.from(await (await gw.fetch(new URL(racedUrl).pathname)).arrayBuffer());

    // Parallel replays of one challenge: the claim lets exactly one through.
    const racers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
        device.installProfileFile(racedBytes);
        return device.obtainIdentity().then(
          () => 200,
          (e: { reason?: string }) => e.reason,
        );
      }),
    );
    expect(racers.filter((s) => s === 200)).to.have.length(1);
    expect(racers.filter((s) => s === 'scep-failure')).to.have.length(3);

    const late = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    const lateUrl = await mint();
    await late.downloadProfile(lateUrl);
    await gw.gateway
      .context('mdm')
      .mongo.collection('mdm_enrollments')
      .updateMany({}, { $set: { expiresAt: new Date(Date.now() - 1) } });
    const expired = await late.obtainIdentity().catch((e: Error) => e);
    expect((expired as Error).message).to.equal('SCEP CertRep FAILURE (failInfo badRequest)');
    expect((await counts()).certificates).to.equal(before.certificates + 1);
  });

  it('refuses malformed and hostile plists (400) and oversized bodies (413)', async () => {
    const device = await enrolled();
    const before = await counts();
    const entity = Buffer.from(
      '<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY x "y">]><plist version="1.0"><dict><key>MessageType</key><string>&x;</string></dict></plist>',
    );
    expect((await put('/mdm/checkin', entity, device.signBody(entity))).status).to.equal(400);
    const deep = Buffer.from(
      `<?xml version="1.0"?><plist version="1.0">${'<array>'.repeat(100)}${'</array>'.repeat(100)}</plist>`,
    );
    expect((await put('/mdm/checkin', deep, device.signBody(deep))).status).to.equal(400);
    const garbage = Buffer.from('not a plist');
    expect((await put('/mdm/connect', garbage, device.signBody(garbage))).status).to.equal(400);
    const huge = Buffer.alloc(3 * 1024 * 1024, 0x20);
    expect((await put('/mdm/checkin', huge, 'x')).status).to.equal(413);
    expect(await counts()).to.deep.equal(before);
  });

  it('answers an unknown MessageType with 400 and UserAuthenticate with 410', async () => {
    const device = await enrolled();
    const unknown = buildPlist({ MessageType: 'Teleport', UDID: device.udid, Topic: TEST_TOPIC });
    expect((await put('/mdm/checkin', unknown, device.signBody(unknown))).status).to.equal(400);
    const user = buildPlist({ MessageType: 'UserAuthenticate', UDID: device.udid, UserID: 'u' });
    expect((await put('/mdm/checkin', user, device.signBody(user))).status).to.equal(410);
  });

  it('refuses a report for a CommandUUID the device was never sent (400), storing nothing', async () => {
    const device = await enrolled();
    const before = await counts();
    const report = buildPlist({ UDID: device.udid, Status: 'Acknowledged', CommandUUID: 'NEVER-SENT-0001' });
    expect((await put('/mdm/connect', report, device.signBody(report))).status).to.equal(400);
    expect(await counts()).to.deep.equal(before);
  });

  it('refuses check-ins signed by a revoked identity (403)', async () => {
    const device = await enrolled();
    const record = await gw.gateway.context('mdm').mongo.collection('mdm_devices').findOne({ udid: device.udid });
    const certs = (await (
      await gw.fetch(`/api/mdm/devices/${record!._id}/certificates`, { headers: adminHeaders() })
    ).json()) as { items: { serial: string }[] };
    expect(certs.items).to.have.length(1);
    const revoke = await gw.fetch(`/api/mdm/certificates/${certs.items[0].serial}/revoke`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ reason: 'lost device' }),
    });
    expect(revoke.status).to.equal(200);
    const report = buildPlist({ UDID: device.udid, Status: 'Idle' });
    expect((await put('/mdm/connect', report, device.signBody(report))).status).to.equal(403);
  });
});
