import { expect } from 'chai';
import {
  collectExtensions,
  declarationsPoint,
  declarativeManagementRef,
  definePlugin,
  deviceDirectoryRef,
  deviceStatusItemsPoint,
} from 'enrollment-gateway/sdk';
import {
  type EnrolledDevice,
  eventsDelivered,
  eventually,
  type PluginHarness,
  startPluginHarness,
} from 'enrollment-gateway/testing';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';
import { ddmDeviceView, retireAndWait } from './support.js';

/** A partner plugin: an asset and a configuration through the SDK's point, and every status change it hears. */
const heard: { deviceId: string; names: string[] }[] = [];
/** How often the partner was asked for each device's declarations (once per computed set). */
const asked = new Map<string, number>();
/** The partner's own data: its echo configuration says this to the user. */
let greeting = 'hello';
const partner = definePlugin({
  name: 'ddm-partner',
  version: '1.0.0',
  coreApi: '^2.7.0',
  dependsOn: ['ddm'],
  register(api) {
    api.contribute(declarationsPoint, () => ({
      async declarationsFor(target) {
        asked.set(target.deviceId, (asked.get(target.deviceId) ?? 0) + 1);
        return [
          {
            type: 'com.apple.asset.data',
            identifier: 'ddm-partner.welcome',
            payload: { Reference: { DataURL: 'https://gateway.test/welcome.json', ContentType: 'application/json' } },
          },
          {
            type: 'com.apple.configuration.management.test',
            identifier: 'ddm-partner.echo',
            payload: { Echo: `${greeting} ${target.userId ?? 'nobody'}` },
          },
        ];
      },
    }));
    api.on('ddm.statusChanged', async (event) => {
      heard.push({ deviceId: event.deviceId, names: event.changes.map((c) => c.name) });
    });
  },
});

interface DeviceView {
  declarationsToken: string;
  lastSync: { token: string } | null;
  declarations: {
    identifier: string;
    type: string;
    kind: string;
    deviceStatus: { valid: string; active: boolean; reasons: { code: string }[] } | null;
  }[];
  status: { name: string; value: unknown }[];
  softwareUpdate: { targetOSVersion: string; state: string } | null;
}

describe('ddm: declarative device management end to end', function () {
  this.timeout(120_000);
  let h: PluginHarness;

  const view = (deviceId: string) => ddmDeviceView<DeviceView>(h, deviceId);
  const statusValue = (v: DeviceView, name: string) => v.status.find((s) => s.name === name)?.value;
  const resyncsDone = async () => {
    const queue = h.context('ddm').queue('ddm-resync').queue;
    await eventually(async () => {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed');
      expect(counts.waiting + counts.active + counts.delayed).to.equal(0);
    });
  };
  const saveSettings = async (change: Record<string, unknown>) => {
    const current = (await (await h.adminFetch('/api/ddm/settings')).json()) as Record<string, unknown>;
    const { updatedAt: _a, updatedBy: _b, ...body } = { ...current, ...change };
    const res = await h.adminFetch('/api/ddm/settings', { method: 'PUT', body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).to.equal(200);
    await resyncsDone();
  };
  const enroll = async (userId: string, options: { osVersion?: string; rejectTypes?: string[] } = {}) => {
    const enrolled: EnrolledDevice = await h.enrollDevice({ userId, osVersion: options.osVersion ?? '17.4' });
    return { ...enrolled, ddm: SimulatedDdm.attach(enrolled.device, { rejectTypes: options.rejectTypes }) };
  };

  before(async () => {
    h = await startPluginHarness({ label: 'ddm', plugins: [partner], enable: ['ddm', 'unenrollment'] });
  });
  after(() => h?.stop());

  it('enrolls, syncs on the DeclarativeManagement command, applies and reports status', async () => {
    const { device, deviceId, ddm } = await enroll('alice');
    const answered = await device.poll();
    expect(answered.map((a) => [a.requestType, a.status])).to.deep.include(['DeclarativeManagement', 'Acknowledged']);
    expect(ddm.itemSyncs).to.equal(1);
    expect([...ddm.declarations.keys()]).to.include.members([
      'gateway.ddm.activation',
      'gateway.ddm.status-subscriptions',
      'gateway.ddm.properties',
      'ddm-partner.welcome',
      'ddm-partner.echo',
      'gateway.ddm.activation.ddm-partner',
    ]);
    expect(ddm.declarations.get('ddm-partner.echo')?.Payload).to.deep.equal({ Echo: 'hello alice' });
    const v = await view(deviceId);
    expect(v.lastSync?.token).to.equal(v.declarationsToken).and.to.equal(ddm.token);
    expect(statusValue(v, 'device.operating-system.version')).to.equal('17.4');
    expect(statusValue(v, 'passcode.is-compliant')).to.equal(true);
    expect(v.declarations.find((d) => d.identifier === 'ddm-partner.echo')?.deviceStatus).to.include({
      valid: 'valid',
      active: true,
    });
    await eventsDelivered(h.gateway.gateway);
    expect(heard.find((e) => e.deviceId === deviceId)?.names).to.include('device.operating-system.version');
  });

  it('a sync computes the set once: the re-sync that tells the device, then every request of the sync from the cache', async () => {
    const { device, deviceId, ddm } = await enroll('frank');
    await device.poll();
    expect(ddm.itemSyncs).to.equal(1);
    // The sync: declaration-items, every declaration, the status report; the set came from the enrollment's re-sync.
    expect(ddm.requests.length).to.be.at.least(2 + ddm.declarations.size);
    expect(asked.get(deviceId)).to.equal(1);
    // A device syncing again on its own: still the kept set, nothing computed.
    expect(await ddm.sync()).to.deep.equal({ changed: false });
    expect(asked.get(deviceId)).to.equal(1);
    // A change reaches it with one push and one sync; the re-sync computed the set once more, the sync not at all.
    const pushesBefore = h.pushesTo(deviceId);
    await saveSettings({ passcode: { requirePasscode: true, minimumLength: 8, assignment: { allDevices: true } } });
    await eventually(async () => expect(h.pushesTo(deviceId)).to.equal(pushesBefore + 1));
    const computedBefore = asked.get(deviceId) ?? 0;
    await device.poll();
    expect(ddm.declarations.get('gateway.ddm.passcode')?.Payload).to.include({ MinimumLength: 8 });
    expect(asked.get(deviceId)).to.equal(computedBefore);
    await saveSettings({ passcode: null });
  });

  it('a change for every device reaches a device that syncs before the re-sync job gets to it', async () => {
    const { device, ddm } = await enroll('grace');
    await device.poll();
    const management = h.context('ddm').resolve(declarativeManagementRef);
    const resync = h.context('ddm').queue('ddm-resync').queue;
    await resync.pause();
    try {
      greeting = 'hi';
      await management.requestSyncAll?.();
      // The job that compares every device waits; the device syncing on its own still gets the new set.
      expect(await ddm.sync()).to.deep.equal({ changed: true });
      expect(ddm.declarations.get('ddm-partner.echo')?.Payload).to.deep.equal({ Echo: 'hi grace' });
    } finally {
      greeting = 'hello';
      await management.requestSyncAll?.();
      await resync.resume();
      await resyncsDone();
    }
  });

  it('a changed configuration reaches the device with one push and one sync; a refused one is reported', async () => {
    const {
      device,
      deviceId,
      ddm: rejecting,
    } = await enroll('bob', {
      rejectTypes: ['com.apple.configuration.passcode.settings'],
    });
    await device.poll();
    const pushesBefore = h.pushesTo(deviceId);
    const syncsBefore = rejecting.itemSyncs;
    await saveSettings({ passcode: { requirePasscode: true, minimumLength: 6, assignment: { allDevices: true } } });
    await eventually(async () => expect(h.pushesTo(deviceId)).to.equal(pushesBefore + 1));
    const answered = await device.poll();
    expect(answered.map((a) => a.requestType)).to.deep.equal(['DeclarativeManagement']);
    expect(rejecting.itemSyncs).to.equal(syncsBefore + 1);
    expect(rejecting.declarations.get('gateway.ddm.passcode')?.Payload).to.include({ MinimumLength: 6 });
    const passcode = (await view(deviceId)).declarations.find((d) => d.identifier === 'gateway.ddm.passcode');
    expect(passcode?.deviceStatus?.valid).to.equal('invalid');
    expect(passcode?.deviceStatus?.reasons.map((r) => r.code)).to.deep.equal(['Error.ConfigurationCannotBeApplied']);
    expect(await device.poll()).to.deep.equal([]);
  });

  it('an unchanged set sends nothing: no command, no push, no sync', async () => {
    const { device, deviceId, ddm } = await enroll('carol');
    await device.poll();
    const pushesBefore = h.pushesTo(deviceId);
    const syncsBefore = ddm.requests.length;
    await saveSettings({}); // saved again, same content: a new version, the same declarations
    const results = await h.context('ddm').resolve(declarativeManagementRef).requestSync([deviceId]);
    expect(results).to.deep.equal([{ deviceId, queued: false }]);
    expect(h.pushesTo(deviceId)).to.equal(pushesBefore);
    expect(await device.poll()).to.deep.equal([]);
    expect(ddm.requests.length).to.equal(syncsBefore);
    expect(await ddm.sync()).to.deep.equal({ changed: false }); // a device asking on its own learns the same
  });

  it('an OS update policy drives the device from available to installed, and the portal shows it pending', async () => {
    const { device, deviceId, ddm } = await enroll('dave', { osVersion: '17.4' });
    await device.poll();
    await saveSettings({
      osUpdates: [
        { id: 'ios-18', targetOSVersion: '18.1', deadline: '2030-01-15T09:00:00', assignment: { allDevices: true } },
      ],
    });
    expect((await view(deviceId)).softwareUpdate).to.deep.include({ targetOSVersion: '18.1', state: 'available' });
    const portalLine = async () => {
      const record = await h.context('mdm').resolve(deviceDirectoryRef).get(deviceId);
      const outcomes = await collectExtensions(h.context('ddm'), deviceStatusItemsPoint, (c) => c.statusFor([record!]));
      return outcomes.find((o) => o.plugin === 'ddm')?.value[deviceId]?.[0];
    };
    expect((await portalLine())?.value).to.equal('iOS 18.1 required, available');
    await device.poll();
    expect(ddm.installState).to.equal('downloading');
    const seen = [(await view(deviceId)).softwareUpdate?.state];
    while ((await ddm.advanceSoftwareUpdate()) !== 'none') seen.push((await view(deviceId)).softwareUpdate?.state);
    seen.push((await view(deviceId)).softwareUpdate?.state);
    expect(seen).to.deep.equal(['downloading', 'prepared', 'installing', 'installed']);
    expect(statusValue(await view(deviceId), 'device.operating-system.version')).to.equal('18.1');
    expect(await portalLine()).to.equal(undefined);
    await saveSettings({ osUpdates: [] });
  });

  it('unenrollment removes the declarations from the device and the server', async () => {
    const { device, deviceId, ddm } = await enroll('erin');
    await device.poll();
    expect(ddm.declarations.size).to.be.greaterThan(0);
    await retireAndWait(h, device, deviceId);
    expect(ddm.declarations.size).to.equal(0);
    await eventually(async () => {
      await eventsDelivered(h.gateway.gateway);
      expect((await h.adminFetch(`/api/ddm/devices/${deviceId}`)).status).to.equal(404);
    });
  });
});
