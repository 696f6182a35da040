import { expect } from 'chai';
import {
  adminNavigationPoint,
  collectExtensions,
  type DeviceStatusItem,
  deviceDirectoryRef,
  deviceStatusItemsPoint,
} from 'enrollment-gateway/sdk';
import { type EnrolledDevice, eventually, type PluginHarness, startPluginHarness } from 'enrollment-gateway/testing';
import compliance from '../index.js';

interface Report {
  deviceId: string;
  state: string;
  platform?: string;
  osVersion?: string;
  minimum?: string;
  action?: string;
}

describe('compliance: a minimum OS version, evaluated on DeviceInformation answers', function () {
  this.timeout(90_000);
  let h: PluginHarness;
  let outdated: EnrolledDevice;
  let current: EnrolledDevice;

  const report = async (deviceId: string): Promise<Report> => {
    const res = await h.adminFetch(`/api/compliance/devices/${deviceId}`);
    expect(res.status).to.equal(200);
    return (await res.json()) as Report;
  };
  /** What the portal's device page and the admin devices list get: the point's contributions, isolated. */
  const statusItems = async (deviceIds: string[]): Promise<Record<string, DeviceStatusItem[]>> => {
    const ctx = h.context('compliance');
    const directory = h.context('mdm').resolve(deviceDirectoryRef);
    const devices = await Promise.all(deviceIds.map(async (id) => (await directory.get(id))!));
    const outcomes = await collectExtensions(ctx, deviceStatusItemsPoint, (c) => c.statusFor(devices));
    return Object.assign({}, ...outcomes.filter((o) => o.plugin === 'compliance').map((o) => o.value));
  };
  const putPolicy = (body: unknown) =>
    h.adminFetch('/api/compliance/policy', { method: 'PUT', body: JSON.stringify(body) });
  const mint = (userId: string) =>
    h.adminFetch('/api/mdm/enrollments', { method: 'POST', body: JSON.stringify({ userId }) });

  before(async () => {
    h = await startPluginHarness({
      label: 'compliance',
      plugins: [compliance],
      config: { plugins: { compliance: { minimumIosVersion: '17.5' } } },
    });
    outdated = await h.enrollDevice({ userId: 'olga', osVersion: '16.7.8' });
    current = await h.enrollDevice({ userId: 'carl', osVersion: '17.5.1' });
  });
  after(() => h?.stop());

  it('asks each newly enrolled device for its OS version, and finds the old one not compliant', async () => {
    const answered = await outdated.device.poll();
    const info = answered.find((a) => a.requestType === 'DeviceInformation');
    expect(info?.command.Queries).to.include.members(['OSVersion', 'ProductName']);
    expect(info?.status).to.equal('Acknowledged');
    await current.device.poll();

    const old = await eventually(async () => {
      const found = await report(outdated.deviceId);
      expect(found.state).to.equal('not-compliant');
      return found;
    });
    expect(old).to.include({ platform: 'iOS', osVersion: '16.7.8', minimum: '17.5' });
    expect(old.action).to.equal('Update iOS to 17.5 or later');
    // Each answer reaches compliance through its own event delivery.
    await eventually(async () => expect((await report(current.deviceId)).state).to.equal('compliant'));
    const metrics = await h.metrics();
    expect(metrics).to.match(/gateway_compliance_reports_total\{state="not-compliant",plugin="compliance"\} 1/);
  });

  it('contributes "Not compliant" with the action to the device status items, and "Compliant" otherwise', async () => {
    expect(await statusItems([outdated.deviceId, current.deviceId])).to.deep.equal({
      [outdated.deviceId]: [
        { label: 'Compliance', value: 'Not compliant', tone: 'critical', action: 'Update iOS to 17.5 or later' },
      ],
      [current.deviceId]: [{ label: 'Compliance', value: 'Compliant', tone: 'ok' }],
    });
  });

  it('lists the devices below the minimum for admins, and adds a Compliance entry to the admin navigation', async () => {
    const res = await h.adminFetch('/api/compliance/devices');
    expect(res.status).to.equal(200);
    const { items } = (await res.json()) as { items: Report[] };
    expect(items.map((i) => i.deviceId)).to.deep.equal([outdated.deviceId]);
    expect((await h.fetch('/api/compliance/devices')).status).to.equal(401);
    const openapi = (await (await h.fetch('/api/openapi.json')).json()) as { paths: Record<string, object> };
    expect(Object.keys(openapi.paths)).to.include.members(['/api/compliance/policy', '/api/compliance/devices']);
    const entries = h.contributions(adminNavigationPoint).filter((c) => c.plugin === 'compliance');
    expect(entries.map((c) => c.value.path)).to.deep.equal(['/admin/compliance']);
  });

  it('validates the policy: a malformed version is a 400 that changes nothing; a valid change is audited', async () => {
    for (const minimumIosVersion of ['17.5 ', 'seventeen', '17.5.1.2', 175]) {
      const res = await putPolicy({
        minimumIosVersion,
        minimumIpadosVersion: null,
        blockEnrollmentWhenNonCompliant: false,
      });
      expect(res.status, String(minimumIosVersion)).to.equal(400);
    }
    expect((await putPolicy({ minimumIosVersion: '16.0' })).status, 'a PUT replaces the whole policy').to.equal(400);
    const unchanged = (await (await h.adminFetch('/api/compliance/policy')).json()) as { version: number };
    expect(unchanged).to.include({ version: 0, minimumIosVersion: '17.5' });

    const saved = await putPolicy({
      minimumIosVersion: '16.0',
      minimumIpadosVersion: '17.2',
      blockEnrollmentWhenNonCompliant: false,
    });
    expect(saved.status).to.equal(200);
    expect(await saved.json()).to.include({ version: 1, minimumIosVersion: '16.0', updatedBy: 'test-admin' });
    expect((await report(outdated.deviceId)).state, 'the policy applies at once').to.equal('compliant');
    const audit = await h
      .context('compliance')
      .mongo.collection('audit_log')
      .findOne({ action: 'compliance.policy.update' });
    expect(audit?.before).to.include({ minimumIosVersion: '17.5' });
    expect(audit?.after).to.include({ minimumIosVersion: '16.0' });
  });

  it('evaluates iPads against the iPadOS minimum', async () => {
    const ipad = await h.enrollDevice({ userId: 'ina', osVersion: '17.1', productName: 'iPad13,18' });
    await ipad.device.poll();
    await eventually(async () => expect((await report(ipad.deviceId)).state).to.equal('not-compliant'));
    expect((await statusItems([ipad.deviceId]))[ipad.deviceId]).to.deep.equal([
      { label: 'Compliance', value: 'Not compliant', tone: 'critical', action: 'Update iPadOS to 17.2 or later' },
    ]);
  });

  it('vetoes a new enrollment of a user whose device is out of date, with a message the user sees', async () => {
    const policy = { minimumIosVersion: '17.5', minimumIpadosVersion: null, blockEnrollmentWhenNonCompliant: true };
    expect((await putPolicy(policy)).status).to.equal(200);
    const refused = await mint('olga');
    expect(refused.status).to.equal(403);
    const problem = (await refused.json()) as { detail: string; vetoedBy: string };
    expect(problem.vetoedBy).to.equal('compliance');
    expect(problem.detail).to.equal(
      `Your device “${outdated.device.info.deviceName}” runs iOS 16.7.8. Update iOS to 17.5 or later on it before you enroll another device.`,
    );
    expect((await mint('carl')).status, 'a user with compliant devices enrolls').to.equal(201);
  });

  it('re-evaluates when an admin asks the device again after it updated, which lifts the veto', async () => {
    outdated.device.info.osVersion = '17.6';
    const refresh = await h.adminFetch(`/api/compliance/devices/${outdated.deviceId}/refresh`, { method: 'POST' });
    expect(refresh.status).to.equal(202);
    await outdated.device.poll();
    await eventually(async () => expect((await report(outdated.deviceId)).state).to.equal('compliant'));
    expect((await mint('olga')).status).to.equal(201);
  });

  it('asks again, from the hourly job, the devices last asked more than refreshHours ago', async () => {
    const facts = h.context('compliance').mongo.collection('compliance_devices');
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    await facts.updateOne({ _id: current.deviceId as never }, { $set: { requestedAt: twoDaysAgo } });
    const job = await h.context('compliance').queue('compliance-refresh').add('refresh', { kind: 'refresh' });
    const result = await eventually(async () => {
      const state = await job.getState();
      expect(state).to.equal('completed');
      return (await h.context('compliance').queue('compliance-refresh').queue.getJob(job.id!))?.returnvalue;
    });
    expect(result).to.deep.equal({ requested: 1 });
    const answered = await current.device.poll();
    expect(answered.map((a) => a.requestType)).to.deep.equal(['DeviceInformation']);
    expect((await outdated.device.poll()).map((a) => a.requestType)).to.deep.equal([]);
  });

  it('forgets a device that checked out', async () => {
    await current.device.checkOut();
    const facts = h.context('compliance').mongo.collection('compliance_devices');
    await eventually(async () => expect(await facts.countDocuments({ _id: current.deviceId as never })).to.equal(0));
  });
});

describe('compliance: without a minimum OS version', function () {
  this.timeout(60_000);

  it('stays quiet: no command reaches an enrolled device and no status line is added', async () => {
    const h = await startPluginHarness({ label: 'compliancequiet', plugins: [compliance] });
    try {
      const { device, deviceId } = await h.enrollDevice({ osVersion: '15.8' });
      expect(await device.poll()).to.deep.equal([]);
      const record = (await h.context('mdm').resolve(deviceDirectoryRef).get(deviceId))!;
      const outcomes = await collectExtensions(h.context('compliance'), deviceStatusItemsPoint, (c) =>
        c.statusFor([record]),
      );
      expect(outcomes).to.deep.equal([{ plugin: 'compliance', value: {} }]);
      const job = await h.context('compliance').queue('compliance-refresh').add('refresh', { kind: 'refresh' });
      await eventually(async () => expect(await job.getState()).to.equal('completed'));
      expect(await device.poll()).to.deep.equal([]);
      // Enrolled devices are still remembered, so setting a minimum later reaches them.
      expect(await h.context('compliance').mongo.collection('compliance_devices').countDocuments()).to.equal(1);
    } finally {
      await h.stop();
    }
  });
});
