import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { postgresBehind, scanCounters, settledCounters } from '../../../test/support/postgres-counters.js';

const PUBLIC_URL = 'https://gateway.test';

/** One port in front of several gateways: each request goes to the next one in turn. */
function roundRobin(targets: readonly string[]): Promise<{ url: string; server: Server }> {
  let next = 0;
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', targets[next++ % targets.length]);
    const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}

describe('mdm command queue: order, NotNow, doubled answers, two replicas, and no scans on the poll path', function () {
  this.timeout(120_000);
  let a: TestGateway;
  let b: TestGateway;
  let proxy: { url: string; server: Server };

  const mongo = () => a.gateway.context('mdm').mongo;
  const enrolledDevice = async (gw: TestGateway, userId: string, baseUrl = gw.url) => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    const { profileUrl } = (await res.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl, publicUrl: PUBLIC_URL });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    const record = await gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(device.udid);
    return { device, id: String(record?.id) };
  };
  const enqueue = async (gw: TestGateway, deviceId: string, requestType: string) => {
    const res = await gw.fetch(`/api/mdm/devices/${deviceId}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ requestType }),
    });
    expect(res.status).to.equal(202);
    return ((await res.json()) as { commandUuid: string }).commandUuid;
  };
  const history = async (deviceId: string) => {
    const res = await a.fetch(`/api/mdm/devices/${deviceId}/commands?limit=200`, { headers: adminHeaders() });
    return ((await res.json()) as { items: { commandUuid: string; state: string }[] }).items;
  };
  const idle = (device: SimulatedDevice) => device.sendReport({ UDID: device.udid, Status: 'Idle' });
  const uuidOf = (body: Buffer) => /<key>CommandUUID<\/key>\s*<string>([^<]+)<\/string>/.exec(body.toString())?.[1];

  before(async () => {
    a = await startTestGateway({
      label: 'mdmqueue',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
    // A second replica on the same database and Redis.
    b = await startTestGateway({
      label: 'mdmqueue',
      mongodbUri: a.mongodbUri,
      redisPrefix: a.redisPrefix,
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
    proxy = await roundRobin([a.url, b.url]);
  });
  after(async () => {
    proxy?.server.close();
    await b?.stop();
    await a?.stop();
  });

  it('hands commands out in the order they were queued, whichever replica queued them', async () => {
    const { device, id } = await enrolledDevice(a, 'ann');
    const queued: string[] = [];
    for (let i = 0; i < 6; i++) queued.push(await enqueue(i % 2 ? b : a, id, 'SecurityInfo'));
    const answered = await device.poll();
    expect(answered.map((c) => c.commandUuid)).to.deep.equal(queued);
  });

  it('NotNow skips the command on the next poll only: the other commands first, then it again after Idle', async () => {
    const { device, id } = await enrolledDevice(a, 'bob');
    device.script({ RequestType: 'SecurityInfo', respond: 'NotNow', times: 1 });
    const busy = await enqueue(a, id, 'SecurityInfo');
    const other = await enqueue(a, id, 'DeviceInformation');
    expect((await device.poll()).map((c) => [c.commandUuid, c.status])).to.deep.equal([
      [busy, 'NotNow'],
      [other, 'Acknowledged'],
    ]);
    expect((await device.poll()).map((c) => [c.commandUuid, c.status])).to.deep.equal([[busy, 'Acknowledged']]);
    expect((await history(id)).map((c) => c.state)).to.deep.equal(['acknowledged', 'acknowledged']);
  });

  it('a doubled answer, to either replica, is recorded and reported once; an answer to an unknown command is refused', async () => {
    const { device, id } = await enrolledDevice(a, 'cid', proxy.url);
    const uuid = await enqueue(a, id, 'SecurityInfo');
    expect(uuidOf((await idle(device)).body)).to.equal(uuid);
    const answer = { UDID: device.udid, CommandUUID: uuid, Status: 'Acknowledged', SecurityInfo: {} };
    const replies = await Promise.all([
      device.sendReport(answer),
      device.sendReport(answer),
      device.sendReport(answer),
    ]);
    expect(replies.map((r) => r.status)).to.deep.equal([200, 200, 200]);
    const command = await mongo().collection('mdm_commands').findOne({ deviceId: id, commandUuid: uuid });
    expect(await mongo().collection('mdm_command_results').countDocuments({ commandId: command?._id })).to.equal(1);
    expect(
      await mongo()
        .collection('core_events')
        .countDocuments({ _id: `command.result:${command?._id}:final` as never }),
    ).to.equal(1);
    const bogus = await device.sendReport({ ...answer, CommandUUID: '00000000-0000-4000-8000-000000000000' });
    expect(bogus.status).to.equal(400);
  });

  it('two replicas serving one device at once, in two overlapping sessions, lose no command and record each once', async () => {
    const { device, id } = await enrolledDevice(a, 'dee', proxy.url);
    const queued: string[] = [];
    for (let i = 0; i < 8; i++) queued.push(await enqueue(i % 2 ? b : a, id, 'SecurityInfo'));
    await Promise.all([device.poll(), device.poll()]);
    // Whatever either session left unanswered (a command both were handed) comes in the next one.
    await device.poll();
    const states = await history(id);
    expect(states.map((c) => c.commandUuid).sort()).to.deep.equal([...queued].sort());
    expect(
      states.every((c) => c.state === 'acknowledged'),
      JSON.stringify(states),
    ).to.equal(true);
    expect(await mongo().collection('mdm_command_results').countDocuments({ deviceId: id, final: true })).to.equal(8);
    expect(await idle(device).then((r) => r.body.length)).to.equal(0);
  });

  it('a poll session scans neither the commands nor any device record (PostgreSQL counters behind FerretDB)', async function () {
    const pgUrl = postgresBehind(a.mongodbUri);
    // The counters exist on FerretDB's PostgreSQL backend only (npm test uses it when PostgreSQL answers).
    if (!pgUrl) this.skip();
    const schema = new URL(a.mongodbUri).pathname.slice(1);
    const start = scanCounters(pgUrl, schema);
    const { device, id } = await enrolledDevice(a, 'eve');
    for (let i = 0; i < 5; i++) await enqueue(a, id, 'SecurityInfo');
    // Warm: the binding cache holds the device (for days), the mirror is loaded.
    expect((await device.poll({ stopAfter: 1 })).length).to.equal(1);
    // Another device enrolls before the measured session, as in any fleet: its Authenticate must not send this
    // device's next session to the database.
    await enrolledDevice(a, 'fred');
    const before = await settledCounters(pgUrl, schema);
    const answered = await device.poll();
    expect(answered.length).to.be.at.least(4);
    const after = await settledCounters(pgUrl, schema);
    const scans = (name: string) => (after[name]?.seqScan ?? 0) - (before[name]?.seqScan ?? 0);
    const hotPath = [
      ...['mdm_commands', 'mdm_command_results', 'core_events'],
      ...['mdm_devices', 'mdm_certificates', 'mdm_identity_bindings', 'mdm_inventory'],
    ];
    for (const collection of hotPath) expect(scans(collection), `sequential scans of ${collection}`).to.equal(0);
    // The counters do move: enrolling and queueing read the device records (FerretDB scans for any query).
    expect(before.mdm_devices?.seqScan ?? 0).to.be.above(start.mdm_devices?.seqScan ?? 0);
  });
});
