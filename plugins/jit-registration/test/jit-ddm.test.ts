import { expect } from 'chai';
import { deviceReadinessRef } from 'enrollment-gateway/sdk';
import { eventually, type PluginHarness, startPluginHarness } from 'enrollment-gateway/testing';
import { formatViolations, type SchemaContext } from '../../../test/support/apple-schema.js';
import { validateDeclaration, validateStatusReport } from '../../../test/support/apple-schema-declarative.js';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';

const IOS17: SchemaContext = { os: 'iOS', osVersion: '17.4', enrollment: 'device', channel: 'device' };

describe('jit-registration: readiness from declarative status where the device reports its apps', function () {
  this.timeout(120_000);
  let h: PluginHarness;

  const readiness = (deviceId: string) => h.context('jit-registration').resolve(deviceReadinessRef).get(deviceId);
  const requestTypes = (answered: { requestType: string }[]) => answered.map((a) => a.requestType);

  before(async () => {
    h = await startPluginHarness({
      label: 'jitddm',
      plugins: [],
      enable: ['jit-registration', 'ddm'],
      // The readiness job's first check waits 5 s: the DDM device turns ready from its status before it runs.
      config: { plugins: { 'jit-registration': { readinessAttempts: 6, readinessBackoffMs: 5_000 } } },
    });
  });
  after(() => h?.stop());

  it('an iOS 17 device turns ready from mdm.app in its status report, with no ManagedApplicationList', async () => {
    const { device, deviceId } = await h.enrollDevice({ userId: 'ada', osVersion: '17.4', installPolls: 1 });
    const ddm = SimulatedDdm.attach(device);
    const first = await device.poll();
    expect(requestTypes(first)).to.include.members(['InstallApplication', 'DeclarativeManagement']);
    // The SSO profile comes by a legacy declaration, not by InstallProfile: never both.
    expect(requestTypes(first)).to.not.include('ManagedApplicationList');
    expect(requestTypes(first)).to.not.include('InstallProfile');
    expect(ddm.declarations.get('jit-registration.sso-profile')?.Type).to.equal('com.apple.configuration.legacy');
    expect(ddm.legacy.downloads.map((d) => d.status)).to.deep.equal([200]);
    const sso = [...device.state.profiles.values()].find((p) => p.installedBy === 'declaration');
    expect(sso?.payloads.map((p) => p.PayloadType)).to.deep.equal(['com.apple.extensiblesso']);
    await eventually(async () =>
      expect((await readiness(deviceId))?.steps.find((s) => s.name === 'install-sso-profile')).to.include({
        state: 'done',
        detail: 'installed by declaration',
      }),
    );
    const subscription = ddm.declarations.get('jit-registration.status-subscriptions');
    expect(subscription?.Payload).to.deep.equal({ StatusItems: [{ Name: 'mdm.app' }, { Name: 'app.managed.list' }] });
    expect(
      ddm.declarations.get('gateway.ddm.activation.jit-registration')?.Payload.StandardConfigurations,
      'the ddm plugin activates both with one activation',
    ).to.have.members(['jit-registration.status-subscriptions', 'jit-registration.sso-profile']);
    const installing = ddm.reports.at(-1)?.StatusItems as { mdm?: { app?: { identifier: string; state: string }[] } };
    expect(installing.mdm?.app).to.deep.include({
      identifier: 'com.azure.authenticator',
      name: 'Authenticator',
      version: '6.8.10',
      state: 'installing',
    });
    await eventually(async () => expect((await readiness(deviceId))?.state).to.equal('installing'));

    // The next session finishes the install; the device reports the change by itself.
    expect(await device.poll()).to.deep.equal([]);
    const ready = await eventually(async () => {
      const found = await readiness(deviceId);
      expect(found?.state).to.equal('ready');
      return found;
    });
    expect(ready?.steps.find((s) => s.name === 'confirm-app')).to.include({
      state: 'done',
      detail: 'Authenticator Managed',
    });
    // The readiness job's check finds it ready and asks nothing.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(await device.poll()).to.deep.equal([]);
    expect(device.state.apps.get('com.azure.authenticator')?.status).to.equal('Managed');

    for (const declaration of ddm.fetched) {
      expect(formatViolations(validateDeclaration(declaration, IOS17)), declaration.Identifier).to.equal('');
    }
    for (const report of ddm.reports) expect(formatViolations(validateStatusReport(report, IOS17))).to.equal('');
  });

  it('a device without DDM (iOS 14) still turns ready through ManagedApplicationList', async () => {
    const { device, deviceId } = await h.enrollDevice({ userId: 'ben', osVersion: '14.8', installPolls: 1 });
    const first = await device.poll();
    expect(requestTypes(first)).to.include.members(['InstallApplication', 'InstallProfile']);
    expect(requestTypes(first)).to.not.include('DeclarativeManagement');
    const answered: string[] = [];
    await eventually(
      async () => {
        answered.push(...requestTypes(await device.poll()));
        expect((await readiness(deviceId))?.state).to.equal('ready');
      },
      60_000,
      500,
    );
    expect(answered).to.include('ManagedApplicationList');
    // The command path: the step follows InstallProfile's answer.
    const step = (await readiness(deviceId))?.steps.find((s) => s.name === 'install-sso-profile');
    expect(step).to.include({ state: 'done' });
    expect(step?.commandUuid).to.be.a('string');
  });
});
