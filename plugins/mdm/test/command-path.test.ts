import { expect } from 'chai';
import { type DomainEvents, definePlugin, deviceDirectoryRef, deviceRetirementRef } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventually } from '../../../test/support/eventually.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';

const PUBLIC_URL = 'https://gateway.test';
/** Where a device's binding, presence and reported inventory live (one writer each). */
const DEVICE_RECORDS = ['mdm_devices', 'mdm_presence', 'mdm_inventory', 'mdm_certificates'];

describe('mdm command endpoint: binding cache, skipped writes and stored answers', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const push = recordingPush({ topic: TEST_TOPIC });
  const results: DomainEvents['command.result'][] = [];
  const listener = definePlugin({
    name: 'result-recorder',
    version: '1.0.0',
    coreApi: '^2.0.0',
    register(api) {
      api.on('command.result', (payload) => {
        results.push(payload);
      });
    },
  });

  const mongo = () => gw.gateway.context('mdm').mongo;
  const enrolledDevice = async (userId: string) => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    const { profileUrl } = (await res.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    const record = await gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(device.udid);
    return { device, id: String(record?.id), enrollmentId: String(record?.enrollmentId) };
  };
  const enqueue = async (deviceId: string, requestType: string) => {
    const res = await gw.fetch(`/api/mdm/devices/${deviceId}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ requestType }),
    });
    expect(res.status).to.equal(202);
    return ((await res.json()) as { commandUuid: string }).commandUuid;
  };
  /** Operations ("collection.method") on the device's records the gateway issues while `work` runs. */
  const deviceOperations = async (work: () => Promise<unknown>): Promise<string[]> => {
    const seen: string[] = [];
    mongo().set('debug', (collection: string, method: string) => {
      if (DEVICE_RECORDS.includes(collection)) seen.push(`${collection}.${method}`);
    });
    try {
      await work();
    } finally {
      mongo().set('debug', undefined);
    }
    return seen;
  };
  const idle = (device: SimulatedDevice) => device.sendReport({ UDID: device.udid, Status: 'Idle' });

  before(async () => {
    gw = await startTestGateway({
      label: 'mdmcmdpath',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, push.plugin, listener],
      // Operations are captured on this gateway's connection: its presence flush must not run inside a capture.
      config: { plugins: { mdm: { presenceFlushSeconds: 600 } } },
    });
  });
  after(() => gw?.stop());

  it('a poll burst reads no device record or certificate, and a DeviceInformation answer that repeats it writes nothing', async () => {
    const { device, id } = await enrolledDevice('amy');
    await enqueue(id, 'DeviceInformation');
    // The first answer records the model and name (Authenticate does not carry them for an iPhone).
    const first = await deviceOperations(() => device.poll());
    // Authenticate remembered the identity's proof (mdm_identity_bindings), so the first poll reads neither the
    // device record nor the certificate, and writes no presence (the work role's flush does): one inventory write.
    expect(first.filter((m) => m.startsWith('mdm_devices.'))).to.deep.equal([]);
    expect(first.filter((m) => m.startsWith('mdm_certificates.'))).to.deep.equal([]);
    expect(first.filter((m) => m.startsWith('mdm_presence.'))).to.deep.equal([]);
    expect(first.filter((m) => m.startsWith('mdm_inventory.') && !m.endsWith('findOne'))).to.deep.equal([
      'mdm_inventory.replaceOne',
    ]);
    const stored = await gw.gateway.context('mdm').resolve(deviceDirectoryRef).get(id);
    expect(stored).to.include({ model: device.info.model, osVersion: device.info.osVersion });

    await enqueue(id, 'DeviceInformation');
    await enqueue(id, 'DeviceInformation');
    const again = await deviceOperations(() => device.poll());
    expect(again, 'device-record operations during the second burst').to.deep.equal([]);
    const history = (await (await gw.fetch(`/api/mdm/devices/${id}/commands`, { headers: adminHeaders() })).json()) as {
      items: { state: string; result?: { QueryResponses?: { Model?: string } } }[];
    };
    expect(history.items.map((i) => i.state)).to.deep.equal(['acknowledged', 'acknowledged', 'acknowledged']);
    expect(history.items[0].result?.QueryResponses?.Model).to.equal(device.info.model);
  });

  it('a new OS version in a DeviceInformation answer is written, and compared against from then on', async () => {
    const { device, id } = await enrolledDevice('ben');
    await enqueue(id, 'DeviceInformation');
    await device.poll();
    device.info.osVersion = '18.1';
    await enqueue(id, 'DeviceInformation');
    await enqueue(id, 'DeviceInformation');
    const writes = (await deviceOperations(() => device.poll())).filter((m) => m.startsWith('mdm_inventory.replace'));
    expect(writes).to.have.length(1);
    expect(await gw.gateway.context('mdm').resolve(deviceDirectoryRef).get(id)).to.include({ osVersion: '18.1' });
  });

  it('a binding-cache miss of an identity seen before is one read by _id: no certificate or device query', async () => {
    const { device, id } = await enrolledDevice('hal');
    expect((await idle(device)).status).to.equal(200);
    const proven = await mongo()
      .collection('mdm_identity_bindings')
      .findOne({ _id: device.identity.fingerprint as never });
    expect(proven).to.include({ deviceId: id, udid: device.udid, serial: device.identity.serialHex });
    // The cache entry expires (or Redis lost it): the next burst starts with a miss.
    const mdm = gw.gateway.context('mdm');
    await mdm.redis.del(`${mdm.redisKeyPrefix}binding:${device.identity.fingerprint}`);
    const reads: { collection: string; method: string; filter: unknown }[] = [];
    mongo().set('debug', (collection: string, method: string, filter: unknown) => {
      if ([...DEVICE_RECORDS, 'mdm_identity_bindings'].includes(collection)) reads.push({ collection, method, filter });
    });
    try {
      expect((await idle(device)).status).to.equal(200);
    } finally {
      mongo().set('debug', undefined);
    }
    expect(reads.map((r) => `${r.collection}.${r.method}`).sort()).to.deep.equal([
      'mdm_identity_bindings.findOne',
      'mdm_inventory.findOne',
    ]);
    for (const read of reads) expect(Object.keys(read.filter as object)).to.deep.equal(['_id']);
    // And revocation still decides: the proven binding does not outlive the identity.
    await mdm.redis.del(`${mdm.redisKeyPrefix}binding:${device.identity.fingerprint}`);
    const revoke = await gw.fetch(`/api/mdm/certificates/${device.identity.serialHex}/revoke`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ reason: 'lost' }),
    });
    expect(revoke.status).to.equal(200);
    expect((await idle(device)).status).to.equal(403);
  });

  it('revoking the identity refuses its very next poll, although the binding was cached', async () => {
    const { device } = await enrolledDevice('cleo');
    expect((await idle(device)).status).to.equal(200);
    expect((await idle(device)).status).to.equal(200);
    const revoke = await gw.fetch(`/api/mdm/certificates/${device.identity.serialHex}/revoke`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ reason: 'lost' }),
    });
    expect(revoke.status).to.equal(200);
    expect((await idle(device)).status).to.equal(403);
  });

  it('a retired device is refused at its very next poll; other devices keep being served', async () => {
    const retired = await enrolledDevice('dora');
    const other = await enrolledDevice('eli');
    expect((await idle(retired.device)).status).to.equal(200);
    expect((await idle(other.device)).status).to.equal(200);
    const retirement = gw.gateway.context('mdm').resolve(deviceRetirementRef);
    const target = { deviceId: retired.id, enrollmentId: retired.enrollmentId };
    expect((await retirement.complete(target)).applied).to.equal(true);
    expect((await idle(retired.device)).status).to.equal(403);
    expect((await idle(other.device)).status).to.equal(200);
  });

  it('a checked-out device is refused at its next poll even right after a cached one', async () => {
    const { device } = await enrolledDevice('fay');
    expect((await idle(device)).status).to.equal(200);
    await device.checkOut();
    expect((await idle(device)).status).to.equal(403);
  });

  it('keeps each answer apart from the queue, one per delivery, and reports a doubled answer once', async () => {
    const { device, id } = await enrolledDevice('gus');
    device.script({ RequestType: 'SecurityInfo', respond: 'NotNow', times: 1 });
    const uuid = await enqueue(id, 'SecurityInfo');
    expect((await device.poll()).map((a) => a.status)).to.deep.equal(['NotNow']);
    // The Acknowledged answer arrives twice at once, as when a device retries a request whose reply it lost.
    const sent = await idle(device);
    expect(sent.body.toString()).to.include(uuid);
    const answer = { UDID: device.udid, CommandUUID: uuid, Status: 'Acknowledged', SecurityInfo: {} };
    const replies = await Promise.all([device.sendReport(answer), device.sendReport(answer)]);
    expect(replies.map((r) => r.status)).to.deep.equal([200, 200]);

    const command = await mongo().collection('mdm_commands').findOne({ deviceId: id, commandUuid: uuid });
    // The command document is written once, at enqueue; what became of it is its own insert-only records.
    expect(command).not.to.have.property('state');
    expect(command).not.to.have.property('resultRaw');
    const answers = await mongo()
      .collection('mdm_command_results')
      .find({ commandId: command?._id })
      .sort({ at: 1 })
      .toArray();
    expect(answers.map((a) => Buffer.from(a.raw.buffer).toString())).to.satisfy(
      (raws: string[]) => raws.length === 2 && raws[0].includes('NotNow') && raws[1].includes('Acknowledged'),
    );
    expect(answers.map((a) => [a._id, a.state])).to.deep.equal([
      [`${command?._id}:1`, 'not-now'],
      [`${command?._id}:final`, 'acknowledged'],
    ]);
    // Events reach subscribers through the work role's delivery jobs: wait for both, then check nothing more came.
    const reported = () => results.filter((r) => r.commandUuid === uuid).map((r) => r.status);
    await eventually(() => expect(reported()).to.have.length.of.at.least(2), 20_000);
    expect(reported()).to.deep.equal(['NotNow', 'Acknowledged']);
    const history = (await (await gw.fetch(`/api/mdm/devices/${id}/commands`, { headers: adminHeaders() })).json()) as {
      items: { state: string; result?: { Status?: string } }[];
    };
    expect(history.items[0].state).to.equal('acknowledged');
    expect(history.items[0].result?.Status).to.equal('Acknowledged');
  });
});
