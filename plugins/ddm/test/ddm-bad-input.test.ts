import { expect } from 'chai';
import { type PluginHarness, startPluginHarness } from 'enrollment-gateway/testing';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';

describe('ddm: bad input is a clear 4xx that changes nothing; never 401 to a device', function () {
  this.timeout(120_000);
  let h: PluginHarness;

  before(async () => {
    h = await startPluginHarness({ label: 'ddmbad', plugins: [], enable: ['ddm'] });
  });
  after(() => h?.stop());

  it('refuses unknown endpoints, malformed status reports, unknown declarations and unsigned check-ins', async () => {
    const { device, deviceId } = await h.enrollDevice({ userId: 'alice' });
    const ddm = SimulatedDdm.attach(device);
    await device.poll();
    const before = await (await h.adminFetch(`/api/ddm/devices/${deviceId}`)).json();
    const send = (extra: Record<string, unknown>) =>
      device.sendCheckin({ MessageType: 'DeclarativeManagement', UDID: device.udid, ...extra } as never);
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ Endpoint: 'everything' }, 400, /Endpoint/],
      [{}, 400, /Endpoint/],
      [{ Endpoint: 'status' }, 400, /Data/],
      [{ Endpoint: 'status', Data: Buffer.from('{"StatusItems":"no"}') }, 400, /StatusItems/],
      [{ Endpoint: 'status', Data: Buffer.from('<plist/>') }, 400, /JSON/],
      [{ Endpoint: 'declaration/configuration/not.mine' }, 404, /no such declaration/],
      [{ Endpoint: 'declaration/asset/gateway.ddm.passcode' }, 404, /no such declaration/],
      [{ Endpoint: 'tokens', UDID: 'another-device' }, 403, /./],
      [{ Endpoint: 'tokens', UDID: 'bad udid!' }, 400, /UDID/],
    ];
    for (const [extra, status, detail] of cases) {
      const res = await send(extra);
      expect(res.status, JSON.stringify(Object.keys(extra))).to.equal(status);
      expect(res.body.toString('utf8')).to.match(detail);
    }
    device.signatureOverride = () => undefined;
    const unsigned = await send({ Endpoint: 'tokens' });
    expect(unsigned.status).to.be.oneOf([400, 403]);
    device.signatureOverride = undefined;
    expect(await (await h.adminFetch(`/api/ddm/devices/${deviceId}`)).json()).to.deep.equal(before);
    expect(ddm.requests.every((r) => r.status === 200)).to.equal(true);
    // mdm counts the handed-over type by name, and a type nobody handles as Unknown.
    expect((await send({ MessageType: 'Invented' })).status).to.equal(400);
    const metrics = await h.metrics();
    expect(metrics).to.match(/message_type="DeclarativeManagement",outcome="accepted"/);
    expect(metrics).to.match(/message_type="Unknown",outcome="[a-z_]+"/);
    expect(metrics).to.not.include('Invented');
  });

  it('refuses invalid and stale settings, naming the fields', async () => {
    const put = (body: unknown) => h.adminFetch('/api/ddm/settings', { method: 'PUT', body: JSON.stringify(body) });
    const invalid = await put({
      version: 0,
      osUpdates: [{ id: 'Bad Id', targetOSVersion: '18', deadline: 'soon', assignment: {} }],
    });
    expect(invalid.status).to.equal(400);
    const problem = (await invalid.json()) as { issues: { path: string }[] };
    expect(problem.issues.map((i) => i.path)).to.deep.equal([
      'osUpdates.0.id',
      'osUpdates.0.targetOSVersion',
      'osUpdates.0.deadline',
    ]);
    expect((await put({ osUpdates: [] })).status).to.equal(428);
    expect((await put({ version: 0 })).status).to.equal(200);
    expect((await put({ version: 0 })).status).to.equal(409);
    expect((await h.adminFetch('/api/ddm/devices/nope')).status).to.equal(404);
    const reader = await h.adminFetch('/api/ddm/settings', { method: 'PUT', token: 'reader', body: '{}' });
    expect(reader.status).to.equal(403);
  });
});
