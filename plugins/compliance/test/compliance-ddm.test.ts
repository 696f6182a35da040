import { expect } from 'chai';
import { type EnrolledDevice, eventually, type PluginHarness, startPluginHarness } from 'enrollment-gateway/testing';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';
import compliance from '../index.js';

interface Report {
  deviceId: string;
  state: string;
  platform?: string;
  osVersion?: string;
}

describe('compliance: declarative status where the device speaks DDM, DeviceInformation otherwise', function () {
  this.timeout(120_000);
  let h: PluginHarness;

  const report = async (deviceId: string): Promise<Report> => {
    const res = await h.adminFetch(`/api/compliance/devices/${deviceId}`);
    expect(res.status).to.equal(200);
    return (await res.json()) as Report;
  };
  const below = async (): Promise<string[]> => {
    const res = await h.adminFetch('/api/compliance/devices');
    expect(res.status).to.equal(200);
    return ((await res.json()) as { items: Report[] }).items.map((i) => i.deviceId);
  };
  const requestTypes = (answered: { requestType: string }[]) => answered.map((a) => a.requestType);

  before(async () => {
    h = await startPluginHarness({
      label: 'complianceddm',
      plugins: [compliance],
      enable: ['ddm'],
      config: { plugins: { compliance: { minimumIosVersion: '17.5' } } },
    });
  });
  after(() => h?.stop());

  let modern: EnrolledDevice & { ddm: SimulatedDdm };

  it('an iOS 17 device is evaluated from its status report, and is never sent DeviceInformation', async () => {
    const enrolled = await h.enrollDevice({ userId: 'dora', osVersion: '17.4' });
    modern = { ...enrolled, ddm: SimulatedDdm.attach(enrolled.device) };
    expect(requestTypes(await modern.device.poll())).to.deep.equal(['DeclarativeManagement']);
    expect(modern.ddm.itemSyncs).to.equal(1);
    await eventually(async () =>
      expect(await report(modern.deviceId)).to.include({ state: 'not-compliant', platform: 'iOS', osVersion: '17.4' }),
    );
    // The list holds reported devices only (the report above may come from Authenticate's OS version before).
    await eventually(async () => expect(await below()).to.deep.equal([modern.deviceId]));
    const kept = await h.context('compliance').mongo.collection('compliance_ddm_reports').findOne();
    expect(kept).to.include({ _id: modern.deviceId, osVersion: '17.4', platform: 'iOS' });
  });

  it('becomes compliant when the device reports a newer OS by status, without a command', async () => {
    modern.device.info.osVersion = '17.6';
    const sent = await modern.ddm.reportStatus();
    expect(sent?.StatusItems).to.deep.equal({ device: { 'operating-system': { version: '17.6' } } });
    await eventually(async () =>
      expect(await report(modern.deviceId)).to.include({ state: 'compliant', osVersion: '17.6' }),
    );
    expect(await below()).to.deep.equal([]);
    expect(await modern.device.poll()).to.deep.equal([]);
  });

  it('a device without DDM (iOS 14) is still asked by DeviceInformation and evaluated from the answer', async () => {
    const old = await h.enrollDevice({ userId: 'otto', osVersion: '14.8' });
    const answered = await old.device.poll();
    expect(requestTypes(answered)).to.include('DeviceInformation');
    expect(requestTypes(answered)).to.not.include('DeclarativeManagement');
    await eventually(async () =>
      expect(await report(old.deviceId)).to.include({ state: 'not-compliant', osVersion: '14.8' }),
    );
    await eventually(async () => expect(await below()).to.deep.equal([old.deviceId]));
  });

  it('the hourly refresh asks neither the device that reports by status nor the one asked a moment ago', async () => {
    const queue = h.context('compliance').queue('compliance-refresh');
    const job = await queue.add('refresh', { kind: 'refresh' });
    const result = await eventually(async () => {
      expect(await job.getState()).to.equal('completed');
      return (await queue.queue.getJob(job.id!))?.returnvalue;
    });
    expect(result).to.deep.equal({ requested: 0 });
    expect(await modern.device.poll()).to.deep.equal([]);
    const requests = h.context('compliance').mongo.collection('compliance_devices');
    const doc = await requests.findOne({ _id: modern.deviceId as never });
    expect(doc?.requestedAt, 'its turn moved on').to.be.instanceOf(Date);
    expect(doc?.pendingCommandUuid).to.equal(undefined);
  });

  it('forgets the declarative report when the device checks out', async () => {
    await modern.device.checkOut();
    const ddmReports = h.context('compliance').mongo.collection('compliance_ddm_reports');
    await eventually(async () =>
      expect(await ddmReports.countDocuments({ _id: modern.deviceId as never })).to.equal(0),
    );
  });
});
