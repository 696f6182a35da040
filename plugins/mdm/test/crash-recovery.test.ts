import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { expect } from 'chai';
import { deviceDirectoryRef, deviceRetirementRef } from 'enrollment-gateway/sdk';
import { parseCommandEnvelope, SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { spawnTs, waitForLine } from '../../../test/support/process.js';

const PUBLIC_URL = 'https://gateway.test';

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/**
 * Kills a real gateway process (SIGKILL) between two writes of enrollment (Authenticate), TokenUpdate,
 * revocation and retirement, restarts it on the same database and Redis, and checks the device converges.
 * The parent holds an in-process gateway on the same storage to read the outcome through the SDK.
 */
describe('mdm crash recovery: a gateway killed between two writes converges after restart', function () {
  this.timeout(300_000);
  let observer: TestGateway;
  let port: number;
  let child: ChildProcess | undefined;
  let childExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  const startChild = async (crashAt?: string, action?: string) => {
    child = spawnTs('plugins/mdm/test/support/crash-child.ts', [], {
      MONGODB_URI: process.env.MONGODB_URI,
      REDIS_URL: process.env.REDIS_URL,
      TEST_CA_DIR: process.env.TEST_CA_DIR,
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
      APPLE_SCHEMA_DIR: process.env.APPLE_SCHEMA_DIR,
      CRASH_MONGODB_URI: observer.mongodbUri,
      CRASH_REDIS_PREFIX: observer.redisPrefix,
      CRASH_PORT: String(port),
      MDM_CRASH_AT: crashAt,
      CRASH_ACTION: action,
      TEST_LOG_LEVEL: 'warn',
    });
    const spawned = child;
    childExit = new Promise((resolve) => spawned.once('exit', (code, signal) => resolve({ code, signal })));
    await waitForLine(child, /READY/);
    return `http://127.0.0.1:${port}`;
  };
  const stopChild = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await childExit;
  };
  /** Runs `step` against a child that dies at `point`; asserts it died by SIGKILL; restarts a healthy child. */
  const crashDuring = async (point: string, step: () => Promise<unknown>, action?: string) => {
    await stopChild();
    await startChild(point, action);
    const death = childExit!;
    await step().catch(() => undefined);
    const timeout = new Promise<'alive'>((resolve) => setTimeout(() => resolve('alive'), 60_000));
    const exited = await Promise.race([death, timeout]);
    expect(exited, `the child was killed at ${point}`).to.deep.equal({ code: null, signal: 'SIGKILL' });
    await startChild();
  };

  const mint = async (baseUrl: string, userId: string) => {
    const res = await fetch(`${baseUrl}/api/mdm/enrollments`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    expect(res.status).to.equal(201);
    return ((await res.json()) as { profileUrl: string }).profileUrl;
  };
  const record = async (udid: string) =>
    (await observer.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(udid))!;
  /** Authenticator and SSO profile installs queued for the device's current enrollment (not cancelled). */
  const jitCommands = async (deviceId: string) => {
    const res = await observer.fetch(`/api/mdm/devices/${deviceId}/commands?limit=200`, { headers: adminHeaders() });
    const { items } = (await res.json()) as { items: { requestType: string; origin: string; state: string }[] };
    return items
      .filter((c) => c.origin === 'jit-registration' && c.state !== 'cancelled')
      .map((c) => c.requestType)
      .filter((type) => type.startsWith('Install'));
  };
  const history = async (deviceId: string) => {
    const res = await observer.fetch(`/api/mdm/devices/${deviceId}/commands?limit=200`, { headers: adminHeaders() });
    return ((await res.json()) as { items: { commandUuid: string; state: string }[] }).items;
  };
  const enqueue = async (baseUrl: string, deviceId: string) => {
    const res = await fetch(`${baseUrl}/api/mdm/devices/${deviceId}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ requestType: 'SecurityInfo' }),
    });
    expect(res.status).to.equal(202);
    return ((await res.json()) as { commandUuid: string }).commandUuid;
  };
  const idle = (device: SimulatedDevice) => device.sendReport({ UDID: device.udid, Status: 'Idle' });

  before(async () => {
    port = await freePort();
    // The observer serves nothing a device talks to; it reads the same storage through the SDK. It runs no
    // workers: without jit-registration, a worker of its own would take (and finish) that plugin's deliveries.
    observer = await startTestGateway({
      label: 'mdmcrash',
      role: 'serve',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  });
  afterEach(stopChild);
  after(() => observer?.stop());

  /** A device with an identity and a downloaded profile, against the child at `baseUrl`. */
  const newDevice = async (baseUrl: string, userId: string, udid?: string) => {
    const device = await SimulatedDevice.create({ baseUrl, publicUrl: PUBLIC_URL, ...(udid ? { udid } : {}) });
    await device.downloadProfile(await mint(baseUrl, userId));
    await device.obtainIdentity();
    return device;
  };

  /** Enrolled, Authenticator and SSO profile queued exactly once, the device served. */
  const assertEnrolledOnce = async (device: SimulatedDevice) => {
    const { id, state } = await record(device.udid);
    expect(state).to.equal('enrolled');
    for (let i = 0; i < 200 && (await jitCommands(id)).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await jitCommands(id)).sort()).to.deep.equal(['InstallApplication', 'InstallProfile']);
    expect((await idle(device)).status).to.equal(200);
  };

  for (const point of ['authenticate:after-binding', 'authenticate:after-fact']) {
    it(`Authenticate killed at ${point}: the device's retry enrolls it, Authenticator and SSO queued once`, async () => {
      const baseUrl = await startChild();
      const device = await newDevice(baseUrl, 'amy');
      await crashDuring(point, () => device.authenticate());
      await device.authenticate();
      await device.tokenUpdate();
      await assertEnrolledOnce(device);
    });
  }

  it('Authenticate of a new enrollment killed after revoking the superseded one: old identity refused, new one enrolls', async () => {
    const baseUrl = await startChild();
    const first = await newDevice(baseUrl, 'ben');
    await first.enroll();
    const again = await newDevice(baseUrl, 'ben', first.udid);
    await crashDuring('authenticate:after-supersede', () => again.authenticate());
    expect((await idle(first)).status).to.equal(403);
    await again.authenticate();
    await again.tokenUpdate();
    expect((await idle(first)).status).to.equal(403);
    await assertEnrolledOnce(again);
  });

  // after-credentials: nothing recorded yet; after-record: device.enrolled recorded (the claim), the fact not yet;
  // after-enrolled: both written, the delivery not queued (the outbox sweep delivers it).
  for (const point of ['token-update:after-credentials', 'token-update:after-record', 'token-update:after-enrolled']) {
    it(`TokenUpdate killed at ${point}: the retried TokenUpdate completes it, device.enrolled effects once`, async () => {
      const baseUrl = await startChild();
      const device = await newDevice(baseUrl, 'cleo');
      await device.authenticate();
      await crashDuring(point, () => device.tokenUpdate());
      await device.tokenUpdate();
      await assertEnrolledOnce(device);
      // Still once after the sweep has had time to look again.
      await new Promise((r) => setTimeout(r, 2_500));
      const { id } = await record(device.udid);
      expect((await jitCommands(id)).sort()).to.deep.equal(['InstallApplication', 'InstallProfile']);
    });
  }

  for (const point of ['retirement:after-revoke', 'retirement:after-retired']) {
    it(`retirement killed at ${point}: the identity stays refused, and the retry leaves it retired`, async () => {
      const baseUrl = await startChild();
      const device = await newDevice(baseUrl, 'eli');
      await device.enroll();
      const { id, enrollmentId } = await record(device.udid);
      await crashDuring(point, async () => undefined, `retire:${id}:${enrollmentId}`);
      expect((await idle(device)).status).to.equal(403);
      // The unenrollment job retries the step.
      const retirement = observer.gateway.context('mdm').resolve(deviceRetirementRef);
      expect((await retirement.complete({ deviceId: id, enrollmentId })).applied).to.equal(true);
      expect((await record(device.udid)).state).to.equal('retired');
      expect((await idle(device)).status).to.equal(403);
    });
  }

  it('a poll killed between recording an answer and handing out the next command: answer recorded and reported once, nothing lost', async () => {
    const baseUrl = await startChild();
    const device = await newDevice(baseUrl, 'gil');
    await device.enroll();
    const { id } = await record(device.udid);
    for (let i = 0; i < 200 && (await jitCommands(id)).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    const first = await enqueue(baseUrl, id);
    const second = await enqueue(baseUrl, id);
    // What jit-registration queued before them goes first: the simulator answers those, one at a time.
    let sent = await idle(device);
    for (let i = 0; i < 20 && !sent.body.toString().includes(first); i++) {
      await device.poll({ stopAfter: 1 });
      sent = await idle(device);
    }
    expect(sent.body.toString()).to.include(first);
    const answer = { UDID: device.udid, CommandUUID: first, Status: 'Acknowledged', SecurityInfo: {} };
    await crashDuring('command:after-answer', () => device.sendReport(answer));
    // The device got no reply and sends its answer again: taken as recorded, and the next command follows.
    let again = await device.sendReport(answer);
    expect(again.status).to.equal(200);
    // jit-registration may have queued a readiness query (ManagedApplicationList) between the two: it is answered
    // on the way; `first` itself never comes back.
    for (let i = 0; i < 5 && !again.body.toString().includes(second); i++) {
      expect(again.body.toString(), 'the recorded command is not handed out again').not.to.include(first);
      const { commandUuid, command } = parseCommandEnvelope(again.body);
      expect(command.RequestType, `only jit's queries come between: ${again.body}`).to.equal('ManagedApplicationList');
      again = await device.sendReport({ UDID: device.udid, CommandUUID: commandUuid, Status: 'Acknowledged' });
    }
    expect(again.body.toString(), `after the resent answer: ${again.body.toString()}`).to.include(second);
    const done = await device.sendReport({ ...answer, CommandUUID: second });
    expect(done.status).to.equal(200);
    expect(done.body.toString()).not.to.include(first);
    expect(done.body.toString()).not.to.include(second);
    const states = Object.fromEntries((await history(id)).map((c) => [c.commandUuid, c.state]));
    expect(states).to.deep.include({ [first]: 'acknowledged', [second]: 'acknowledged' });
    const mongo = observer.gateway.context('mdm').mongo;
    const command = await mongo.collection('mdm_commands').findOne({ deviceId: id, commandUuid: first });
    const reported = await mongo
      .collection('core_events')
      .countDocuments({ _id: `command.result:${command?._id}:final` as never });
    expect(reported, 'the answer is reported once').to.equal(1);
    const other = await mongo.collection('mdm_commands').findOne({ deviceId: id, commandUuid: second });
    const finals = await mongo
      .collection('mdm_command_results')
      .countDocuments({ commandId: { $in: [command?._id, other?._id] } });
    expect(finals, 'one result record each').to.equal(2);
  });

  it('revocation killed between the Redis mirror and the database record: refused at once, recorded by the retry', async () => {
    const baseUrl = await startChild();
    const device = await newDevice(baseUrl, 'fay');
    await device.enroll();
    expect((await idle(device)).status).to.equal(200);
    const { id, enrollmentId } = await record(device.udid);
    await crashDuring('revocation:after-mirror', async () => undefined, `revoke:${id}:${enrollmentId}`);
    const mongo = observer.gateway.context('mdm').mongo;
    expect(await mongo.collection('mdm_revocations').countDocuments({ enrollmentId })).to.equal(0);
    // Fails closed: the mirror has it, whatever the binding cache held.
    expect((await idle(device)).status).to.equal(403);
    const retirement = observer.gateway.context('mdm').resolve(deviceRetirementRef);
    expect((await retirement.revokeIdentity({ deviceId: id, enrollmentId }, 'retry')).applied).to.equal(true);
    expect(await mongo.collection('mdm_revocations').countDocuments({ enrollmentId })).to.equal(1);
    // Redis losing the mirror now changes nothing: it reloads from the database.
    await observer.gateway.context('mdm').redis.del(`${observer.gateway.context('mdm').redisKeyPrefix}revocations`);
    expect((await idle(device)).status).to.equal(403);
  });
});
