import { expect } from 'chai';
import { type DomainEvents, definePlugin } from 'enrollment-gateway/sdk';
import { formatViolations, validateCommand } from '../../../test/support/apple-schema.js';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { parseDevicePlist } from '../src/protocol/index.js';

const PUBLIC_URL = 'https://gateway.test';

describe('mdm e2e: a simulated iPhone enrolls, answers commands and checks out', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const push = recordingPush({ topic: TEST_TOPIC });
  const seen: { event: string; payload: unknown }[] = [];
  const listener = definePlugin({
    name: 'event-recorder',
    version: '1.0.0',
    coreApi: '^2.0.0',
    register(api) {
      for (const event of ['device.enrolled', 'device.tokenUpdated', 'device.checkedOut', 'command.result'] as const) {
        api.on(event, (payload: DomainEvents[typeof event]) => {
          seen.push({ event, payload });
        });
      }
    },
  });

  const mint = async (userId = 'alice') => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    expect(res.status).to.equal(201);
    return ((await res.json()) as { profileUrl: string }).profileUrl;
  };
  const enrolledDevice = async (userId = 'alice') => {
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(await mint(userId));
    await device.enroll();
    return device;
  };
  const deviceRecord = async (udid: string) => {
    const res = await gw.fetch(`/api/mdm/devices?limit=200`, { headers: adminHeaders() });
    const { items } = (await res.json()) as {
      items: {
        pushable?: boolean;
        id: string;
        udid: string;
        state: string;
        model?: string;
        osVersion?: string;
        installedProfiles: { identifier: string }[];
      }[];
    };
    const found = items.find((d) => d.udid === udid);
    if (!found) throw new Error(`no device ${udid}`);
    return found;
  };
  const enqueue = async (
    deviceId: string,
    requestType: string,
    payload?: Record<string, unknown>,
    commandUuid?: string,
  ) =>
    gw.fetch(`/api/mdm/devices/${deviceId}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ requestType, payload, commandUuid }),
    });

  before(async () => {
    gw = await startTestGateway({
      label: 'mdme2e',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, push.plugin, listener],
    });
  });
  after(() => gw?.stop());

  it('enrolls through SCEP, Authenticate and TokenUpdate, and emits device.enrolled once', async () => {
    const device = await enrolledDevice();
    const record = await deviceRecord(device.udid);
    expect(record.state).to.equal('enrolled');
    expect(record).to.include({ pushable: true });
    expect(JSON.stringify(record)).not.to.include(device.pushMagic);
    await eventsDelivered(gw.gateway);
    const enrolled = seen.filter((e) => e.event === 'device.enrolled');
    expect(enrolled).to.have.length(1);
    expect(enrolled[0].payload).to.include({ udid: device.udid, userId: 'alice', deviceId: record.id });
    // A later TokenUpdate is device.tokenUpdated, and raises no second device.enrolled.
    await device.tokenUpdate();
    await eventsDelivered(gw.gateway);
    expect(seen.filter((e) => e.event === 'device.enrolled')).to.have.length(1);
    expect(
      seen.filter((e) => e.event === 'device.tokenUpdated' && (e.payload as { udid: string }).udid === device.udid),
    ).to.have.length(1);
  });

  it('answers DeviceInformation and ProfileList; results update the device record and history', async () => {
    const device = await enrolledDevice();
    const { id } = await deviceRecord(device.udid);
    expect((await enqueue(id, 'DeviceInformation')).status).to.equal(202);
    expect((await enqueue(id, 'ProfileList')).status).to.equal(202);
    expect(push.woken.flat()).to.include(id);
    const answered = await device.poll();
    expect(answered.map((a) => `${a.requestType}:${a.status}`)).to.deep.equal([
      'DeviceInformation:Acknowledged',
      'ProfileList:Acknowledged',
    ]);
    for (const command of answered) {
      expect(formatViolations(validateCommand(command.requestType, command.command))).to.equal('');
    }
    const record = await deviceRecord(device.udid);
    expect(record.osVersion).to.equal(device.info.osVersion);
    expect(record.installedProfiles.map((p) => p.identifier)).to.include('test.gateway.enrollment');
    const history = (await (await gw.fetch(`/api/mdm/devices/${id}/commands`, { headers: adminHeaders() })).json()) as {
      items: { requestType: string; state: string; result?: Record<string, unknown> }[];
    };
    expect(history.items.map((i) => i.state)).to.deep.equal(['acknowledged', 'acknowledged']);
    const info = history.items.find((i) => i.requestType === 'DeviceInformation')!;
    expect((info.result as { QueryResponses: Record<string, unknown> }).QueryResponses.OSVersion).to.equal(
      device.info.osVersion,
    );
    // Events reach subscribers through the work role's delivery jobs, after the answers were acknowledged.
    await eventsDelivered(gw.gateway);
    expect(
      seen.filter((e) => e.event === 'command.result' && (e.payload as { deviceId: string }).deviceId === id),
    ).to.have.length(2);
  });

  it('keeps a NotNow command queued, skips it on the very next poll, and sends it again after', async () => {
    const device = await enrolledDevice();
    const { id } = await deviceRecord(device.udid);
    device.script({ RequestType: 'DeviceInformation', respond: 'NotNow', times: 1 });
    await enqueue(id, 'DeviceInformation');
    await enqueue(id, 'SecurityInfo');
    const first = await device.poll();
    expect(first.map((a) => `${a.requestType}:${a.status}`)).to.deep.equal([
      'DeviceInformation:NotNow',
      'SecurityInfo:Acknowledged',
    ]);
    const second = await device.poll();
    expect(second.map((a) => `${a.requestType}:${a.status}`)).to.deep.equal(['DeviceInformation:Acknowledged']);
  });

  it('stores an Error with its ErrorChain', async () => {
    const device = await enrolledDevice();
    const { id } = await deviceRecord(device.udid);
    device.script({ RequestType: 'ProfileList', respond: 'Error', times: 1 });
    await enqueue(id, 'ProfileList');
    await device.poll();
    const history = (await (await gw.fetch(`/api/mdm/devices/${id}/commands`, { headers: adminHeaders() })).json()) as {
      items: { state: string; errorChain?: unknown[] }[];
    };
    expect(history.items[0].state).to.equal('error');
    expect(history.items[0].errorChain).to.be.an('array').that.is.not.empty;
  });

  it('renews the identity by SCEP RenewalReq and keeps the device binding', async () => {
    const device = await enrolledDevice();
    const before = await deviceRecord(device.udid);
    const oldFingerprint = device.identity.fingerprint;
    await device.renewIdentity();
    expect(device.identity.fingerprint).not.to.equal(oldFingerprint);
    await enqueue(before.id, 'SecurityInfo');
    expect((await device.poll()).map((a) => a.status)).to.deep.equal(['Acknowledged']);
    expect((await deviceRecord(device.udid)).id).to.equal(before.id);
  });

  it('checks out: the device is marked checked-out and device.checkedOut is emitted', async () => {
    const device = await enrolledDevice();
    await device.checkOut();
    expect((await deviceRecord(device.udid)).state).to.equal('checked-out');
    // Delivered by a worker once recorded: after the CheckOut was answered.
    await eventually(() =>
      expect(
        seen.some((e) => e.event === 'device.checkedOut' && (e.payload as { udid: string }).udid === device.udid),
      ).to.equal(true),
    );
  });

  it('refuses duplicate CommandUUIDs (409) and unknown RequestTypes (400) at enqueue', async () => {
    const device = await enrolledDevice();
    const { id } = await deviceRecord(device.udid);
    expect((await enqueue(id, 'DeviceInformation', undefined, 'FIXED-UUID-0001')).status).to.equal(202);
    expect((await enqueue(id, 'DeviceInformation', undefined, 'FIXED-UUID-0001')).status).to.equal(409);
    expect((await enqueue(id, 'EraseDevice')).status).to.equal(400);
    expect((await enqueue(id, 'InstallApplication', { iTunesStoreID: 'nope' })).status).to.equal(400);
    const history = (await (await gw.fetch(`/api/mdm/devices/${id}/commands`, { headers: adminHeaders() })).json()) as {
      items: unknown[];
    };
    expect(history.items).to.have.length(1);
  });

  it('parses the plist it serves for every queued command as the device would', async () => {
    const device = await enrolledDevice();
    const { id } = await deviceRecord(device.udid);
    await enqueue(id, 'InstallApplication', { iTunesStoreID: 983156458, ManagementFlags: 1 });
    const [answer] = await device.poll();
    expect(answer.command).to.include({ RequestType: 'InstallApplication', iTunesStoreID: 983156458 });
    expect(parseDevicePlist(Buffer.from('<?xml version="1.0"?><plist version="1.0"><dict/></plist>'))).to.deep.equal(
      {},
    );
  });

  it('refuses to let another user take over an enrolled device by naming its UDID', async () => {
    const alice = await enrolledDevice('alice');
    const thief = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL, udid: alice.udid });
    await thief.downloadProfile(await mint('mallory'));
    const error = await thief.enroll().catch((e: { status?: number }) => e);
    expect((error as { status?: number }).status).to.equal(403);
    const record = await deviceRecord(alice.udid);
    expect(record.state).to.equal('enrolled');
    const { id } = record;
    await enqueue(id, 'SecurityInfo');
    expect((await alice.poll()).map((a) => a.status)).to.deep.equal(['Acknowledged']);
  });

  it('re-enrollment revokes the earlier identity: it can neither poll nor renew', async () => {
    const first = await enrolledDevice('carol');
    const again = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL, udid: first.udid });
    await again.downloadProfile(await mint('carol'));
    await again.enroll();
    expect((await deviceRecord(first.udid)).state).to.equal('enrolled');
    const idle = await first.sendReport({ UDID: first.udid, Status: 'Idle' });
    expect(idle.status).to.equal(403);
    const renewal = await first.renewIdentity().catch((e: { reason?: string }) => e);
    expect((renewal as { reason?: string }).reason, 'a CertRep FAILURE').to.equal('scep-failure');
    expect((await again.poll()).length).to.equal(0);
  });

  it('takes a re-sent answer as already recorded, and a repeated Authenticate of the same enrollment keeps it enrolled', async () => {
    const device = await enrolledDevice('dave');
    const { id } = await deviceRecord(device.udid);
    await enqueue(id, 'SecurityInfo');
    const [answer] = await device.poll();
    const resent = await device.sendReport(answer.report);
    expect(resent.status).to.equal(200);
    // The enrollment completed once (its 'enrolled' fact): a device re-sending Authenticate with the same
    // identity does not start it over, and keeps its queue.
    await device.authenticate();
    expect((await deviceRecord(device.udid)).state).to.equal('enrolled');
    await enqueue(id, 'SecurityInfo');
    await device.tokenUpdate();
    expect((await deviceRecord(device.udid)).state).to.equal('enrolled');
    expect((await device.poll()).map((a) => a.requestType)).to.deep.equal(['SecurityInfo']);
  });

  it('refuses a checked-out device (403) and drops its queue', async () => {
    const device = await enrolledDevice('erin');
    const { id } = await deviceRecord(device.udid);
    await enqueue(id, 'SecurityInfo');
    await device.checkOut();
    expect((await device.sendReport({ UDID: device.udid, Status: 'Idle' })).status).to.equal(403);
    const history = (await (await gw.fetch(`/api/mdm/devices/${id}/commands`, { headers: adminHeaders() })).json()) as {
      items: { state: string }[];
    };
    expect(history.items.map((i) => i.state)).to.deep.equal(['cancelled']);
  });
});
