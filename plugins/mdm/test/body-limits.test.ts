import { expect } from 'chai';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { parseCommandEnvelope } from '../../../test/support/device-simulator-device.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';

const PUBLIC_URL = 'https://gateway.test';
const MIB = 1024 * 1024;

/** An InstalledApplicationList answer of about `bytes` once written as a plist (a phone with many apps). */
function appList(bytes: number) {
  const app = (i: number) => ({
    Identifier: `com.example.app${i}`,
    Name: `Example application number ${i} ${'x'.repeat(60)}`,
    Version: '1.0',
    ShortVersion: '1.0',
    BundleSize: 1000 + i,
  });
  const perApp = 423;
  return Array.from({ length: Math.ceil(bytes / perApp) }, (_, i) => app(i));
}

describe('mdm: one body limit per route family, declared with the routes', function () {
  this.timeout(120_000);
  let gw: TestGateway;
  let device: SimulatedDevice;
  let deviceId: string;

  const enqueue = async (requestType: string) => {
    const res = await gw.fetch(`/api/mdm/devices/${deviceId}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ requestType }),
    });
    expect(res.status, await res.clone().text()).to.equal(202);
    return ((await res.json()) as { commandUuid: string }).commandUuid;
  };
  const lastRequestBytes = () => device.exchanges[device.exchanges.length - 1].requestBytes;

  before(async () => {
    gw = await startTestGateway({
      label: 'bodylimit',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
    const mint = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'alice' }),
    });
    device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(((await mint.json()) as { profileUrl: string }).profileUrl);
    await device.enroll();
    const list = await gw.fetch('/api/mdm/devices', { headers: adminHeaders() });
    const { items } = (await list.json()) as { items: { id: string; udid: string }[] };
    deviceId = items.find((d) => d.udid === device.udid)?.id ?? '';
  });
  after(() => gw?.stop());

  it('accepts a signed 1.5 MB command report on /mdm (above the 1 MiB default, within mdm’s 2 MiB)', async () => {
    const commandUuid = await enqueue('InstalledApplicationList');
    const idle = await device.sendReport({ UDID: device.udid, Status: 'Idle' });
    expect(idle.status).to.equal(200);
    expect(parseCommandEnvelope(idle.body).commandUuid).to.equal(commandUuid);
    const res = await device.sendReport({
      UDID: device.udid,
      CommandUUID: commandUuid,
      Status: 'Acknowledged',
      InstalledApplicationList: appList(1.5 * MIB),
    });
    expect(lastRequestBytes()).to.be.within(1.4 * MIB, 1.9 * MIB);
    expect(res.status, res.body.toString()).to.equal(200);
    const history = await gw.fetch(`/api/mdm/devices/${deviceId}/commands`, { headers: adminHeaders() });
    const { items } = (await history.json()) as { items: { commandUuid: string; state: string }[] };
    expect(items.find((c) => c.commandUuid === commandUuid)?.state).to.equal('acknowledged');
  });

  it('refuses a device body over 2 MiB with 413 from the /mdm family limit, before the signature is checked', async () => {
    const commandUuid = await enqueue('InstalledApplicationList');
    const idle = await device.sendReport({ UDID: device.udid, Status: 'Idle' });
    expect(parseCommandEnvelope(idle.body).commandUuid).to.equal(commandUuid);
    const res = await device.sendReport({
      UDID: device.udid,
      CommandUUID: commandUuid,
      Status: 'Acknowledged',
      InstalledApplicationList: appList(2.2 * MIB),
    });
    expect(lastRequestBytes()).to.be.greaterThan(2 * MIB);
    expect(res.status).to.equal(413);
    expect(JSON.parse(res.body.toString())).to.include({ detail: `body exceeds ${2 * MIB} bytes` });
    // Nothing changed: the command still waits for its answer.
    const history = await gw.fetch(`/api/mdm/devices/${deviceId}/commands`, { headers: adminHeaders() });
    expect(history.status, await history.clone().text()).to.equal(200);
    const { items } = (await history.json()) as { items: { commandUuid: string; state: string }[] };
    expect(items.find((c) => c.commandUuid === commandUuid)?.state)
      .to.be.a('string')
      .and.not.equal('acknowledged');

    // Without a Content-Length (chunked), the same limit stops the read.
    const chunked = await fetch(`${gw.url}/mdm/connect`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-apple-aspen-mdm' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 3; i++) controller.enqueue(new Uint8Array(MIB));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).to.equal(413);
  });

  it('holds the admin API (no declared limit) to http.bodyLimitBytes, 1 MiB', async () => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'x'.repeat(1.5 * MIB) }),
    });
    expect(res.status).to.equal(413);
    expect(await res.json()).to.include({ detail: `body exceeds ${MIB} bytes` });
  });

  it('holds SCEP to its declared 64 KiB', async () => {
    const res = await gw.fetch('/scep?operation=PKIOperation', {
      method: 'POST',
      headers: { 'content-type': 'application/x-pki-message' },
      body: Buffer.alloc(65 * 1024, 1),
    });
    expect(res.status).to.equal(413);
    expect(await res.json()).to.include({ detail: `body exceeds ${64 * 1024} bytes` });
  });
});
