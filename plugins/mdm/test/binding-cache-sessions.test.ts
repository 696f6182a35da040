import { expect } from 'chai';
import { deviceDirectoryRef, deviceRetirementRef } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventually } from '../../../test/support/eventually.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { presenceFlushed } from '../../../test/support/presence.js';
import { presenceResolutionMs } from '../src/storage/presence-store.js';

const PUBLIC_URL = 'https://gateway.test';
const bucket = (ms: number) => Math.floor(ms / presenceResolutionMs(1)) * presenceResolutionMs(1);
/** Every record a command request could read or write for its device (one writer each). */
const DEVICE_RECORDS = [
  'mdm_devices',
  'mdm_presence',
  'mdm_inventory',
  'mdm_certificates',
  'mdm_identity_bindings',
  'mdm_lifecycle',
];

describe('mdm device sessions: a later session reads nothing, presence is written by the work role', function () {
  this.timeout(60_000);
  // Operations are captured on this gateway: its presence flush (a long period) cannot run inside a capture.
  let gw: TestGateway;
  // The presence tests' gateway, flushing every second as every test gateway does.
  let flushing: TestGateway;

  const mdm = (on = gw) => on.gateway.context('mdm');
  const enrolledDevice = async (userId: string, on = gw) => {
    const res = await on.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    const { profileUrl } = (await res.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: on.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    const record = await mdm(on).resolve(deviceDirectoryRef).getByUdid(device.udid);
    return { device, id: String(record?.id), enrollmentId: String(record?.enrollmentId) };
  };
  const idle = (device: SimulatedDevice) => device.sendReport({ UDID: device.udid, Status: 'Idle' });
  /** Operations ("collection.method") on device records the gateway's mongoose connection issues during `work`. */
  const deviceOperations = async (work: () => Promise<unknown>): Promise<string[]> => {
    const seen: string[] = [];
    mdm().mongo.set('debug', (collection: string, method: string) => {
      if (DEVICE_RECORDS.includes(collection)) seen.push(`${collection}.${method}`);
    });
    try {
      await work();
    } finally {
      mdm().mongo.set('debug', undefined);
    }
    return seen;
  };

  before(async () => {
    gw = await startTestGateway({
      label: 'mdmsessions',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
      config: { plugins: { mdm: { presenceFlushSeconds: 600 } } },
    });
    flushing = await startTestGateway({
      label: 'mdmpresence',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  });
  after(async () => {
    await gw?.stop();
    await flushing?.stop();
  });

  it('a session after other devices enrolled reads and writes no device record', async () => {
    const { device } = await enrolledDevice('ivy');
    expect((await idle(device)).status).to.equal(200);
    // Other devices authenticate meanwhile: each moves its own device's cache generation, not this one's.
    await enrolledDevice('jon');
    await enrolledDevice('kim');
    const operations = await deviceOperations(async () => expect((await idle(device)).status).to.equal(200));
    expect(operations).to.deep.equal([]);
  });

  it("a device that authenticates again is read afresh; another device's entry stands", async () => {
    const first = await enrolledDevice('lea');
    const second = await enrolledDevice('max');
    expect((await idle(first.device)).status).to.equal(200);
    expect((await idle(second.device)).status).to.equal(200);
    await first.device.authenticate();
    const reread = await deviceOperations(async () => expect((await idle(first.device)).status).to.equal(200));
    expect(reread).to.include('mdm_identity_bindings.findOne');
    const untouched = await deviceOperations(async () => expect((await idle(second.device)).status).to.equal(200));
    expect(untouched).to.deep.equal([]);
  });

  it('a retired device leaves nothing of itself in the binding cache', async () => {
    const { device, id, enrollmentId } = await enrolledDevice('pia');
    expect((await idle(device)).status).to.equal(200);
    const entry = `${mdm().redisKeyPrefix}binding:${device.identity.fingerprint}`;
    expect(await mdm().redis.exists(entry)).to.equal(1);
    const retirement = mdm().resolve(deviceRetirementRef);
    expect((await retirement.complete({ deviceId: id, enrollmentId })).applied).to.equal(true);
    expect(await mdm().redis.exists(entry)).to.equal(0);
    expect((await idle(device)).status).to.equal(403);
  });

  it('a poll writes no presence: it marks the device in Redis; a refused request is no sighting', async () => {
    const { device, id } = await enrolledDevice('ned');
    const marks = `${mdm().redisKeyPrefix}presence:marks`;
    await mdm().redis.zrem(marks, id);
    const before = Date.now();
    const operations = await deviceOperations(async () => {
      expect((await idle(device)).status).to.equal(200);
      expect((await idle(device)).status).to.equal(200);
    });
    expect(operations.filter((o) => o.startsWith('mdm_presence.'))).to.deep.equal([]);
    expect(Number(await mdm().redis.zscore(marks, id))).to.be.within(before, Date.now());
    // Revoked: its next requests are refused from the cached entry, and mark nothing.
    const revoke = await gw.fetch(`/api/mdm/certificates/${device.identity.serialHex}/revoke`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ reason: 'lost' }),
    });
    expect(revoke.status).to.equal(200);
    await mdm().redis.zrem(marks, id);
    expect((await idle(device)).status).to.equal(403);
    expect(await mdm().redis.zscore(marks, id)).to.equal(null);
  });

  it('the work role writes the last check-in within its flush period', async () => {
    const { device, id } = await enrolledDevice('oda', flushing);
    const ctx = mdm(flushing);
    await presenceFlushed(ctx.redis, ctx.redisKeyPrefix);
    const flushed = (await ctx.resolve(deviceDirectoryRef).get(id))?.lastSeenAt;
    expect(flushed, 'enrolling was seen').to.be.instanceOf(Date);
    // lastSeenAt is kept to the flush period (a second in tests): the poll comes in a later step than the enrollment.
    while (bucket(Date.now()) <= bucket(flushed!.getTime())) await new Promise((resolve) => setTimeout(resolve, 100));
    const before = bucket(Date.now());
    expect((await idle(device)).status).to.equal(200);
    await eventually(async () => {
      const seen = (await ctx.resolve(deviceDirectoryRef).get(id))?.lastSeenAt;
      expect(seen?.getTime()).to.be.at.least(before);
    });
  });

  it('a flush that stopped half-way is finished by the next one, and an older sighting moves nothing back', async () => {
    const { id } = await enrolledDevice('ola', flushing);
    const ctx = mdm(flushing);
    await presenceFlushed(ctx.redis, ctx.redisKeyPrefix);
    const later = bucket(Date.now() + 60_000);
    // What a flush leaves when the work role dies between taking the marks and writing them.
    await ctx.redis.zadd(`${ctx.redisKeyPrefix}presence:flushing`, later, id);
    await presenceFlushed(ctx.redis, ctx.redisKeyPrefix);
    expect((await ctx.resolve(deviceDirectoryRef).get(id))?.lastSeenAt?.getTime()).to.equal(later);
    await ctx.redis.zadd(`${ctx.redisKeyPrefix}presence:marks`, later - 30_000, id);
    await presenceFlushed(ctx.redis, ctx.redisKeyPrefix);
    expect((await ctx.resolve(deviceDirectoryRef).get(id))?.lastSeenAt?.getTime()).to.equal(later);
  });
});
