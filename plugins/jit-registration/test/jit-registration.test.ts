import { expect } from 'chai';
import { managedItemsPoint } from 'enrollment-gateway/sdk';
import { parse as parsePlist } from 'plist';
import { formatViolations, validateCommand, validateProfile } from '../../../test/support/apple-schema.js';
import { type AnsweredCommand, SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';

const PUBLIC_URL = 'https://gateway.test';

interface Readiness {
  state: string;
  steps: { name: string; state: string; detail?: string }[];
}

describe('jit-registration: Authenticator and the SSO profile reach an enrolled device', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  const enrolledDevice = async (installPolls = 1) => {
    const mint = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'alice' }),
    });
    expect(mint.status).to.equal(201);
    const { profileUrl } = (await mint.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL, installPolls });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    await eventsDelivered(gw.gateway);
    const list = (await (await gw.fetch('/api/mdm/devices?limit=200', { headers: adminHeaders() })).json()) as {
      items: { id: string; udid: string }[];
    };
    const id = list.items.find((d) => d.udid === device.udid)?.id;
    if (!id) throw new Error('device not recorded');
    return { device, id };
  };
  const readiness = async (id: string): Promise<Readiness> => {
    const res = await gw.fetch(`/api/jit/devices/${id}`, { headers: adminHeaders('reader') });
    expect(res.status).to.equal(200);
    return (await res.json()) as Readiness;
  };
  const putPolicy = (body: unknown) =>
    gw.fetch('/api/jit/sso-policy', { method: 'PUT', headers: adminHeaders(), body: JSON.stringify(body) });

  before(async () => {
    gw = await startTestGateway({
      label: 'jitreg',
      enable: ['mdm', 'admin-access', 'jit-registration'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
      config: {
        plugins: {
          'jit-registration': { readinessAttempts: 6, readinessBackoffMs: 100, nationalClouds: true },
        },
      },
    });
  });
  after(() => gw?.stop());

  it('queues InstallApplication and a schema-valid SSO profile, then turns ready once Authenticator is managed', async () => {
    const { device, id } = await enrolledDevice(2);
    expect((await readiness(id)).state).to.equal('pending');

    const first = await device.poll();
    const install = first.find((a) => a.requestType === 'InstallApplication') as AnsweredCommand;
    const profile = first.find((a) => a.requestType === 'InstallProfile') as AnsweredCommand;
    expect(install.status).to.equal('Acknowledged');
    expect(install.command).to.include({ iTunesStoreID: 983156458, ManagementFlags: 1 });
    expect(profile.status).to.equal('Acknowledged');
    for (const answer of [install, profile]) {
      expect(formatViolations(validateCommand(answer.requestType, answer.command))).to.equal('');
    }

    const payload = profile.command.Payload as Buffer;
    expect(Buffer.isBuffer(payload)).to.equal(true);
    const dict = parsePlist(payload.toString('utf8')) as Record<string, unknown>;
    expect(formatViolations(validateProfile(dict, { os: 'iOS' }))).to.equal('');
    expect(dict.PayloadIdentifier).to.equal('test.gateway.jit.sso');
    const [sso] = dict.PayloadContent as Record<string, unknown>[];
    expect(sso).to.include({
      PayloadType: 'com.apple.extensiblesso',
      ExtensionIdentifier: 'com.microsoft.azureauthenticator.ssoextension',
      Type: 'Redirect',
    });
    // Apple's schema: TeamIdentifier is macOS-only and unsupported on iOS.
    expect(sso).not.to.have.property('TeamIdentifier');
    expect(sso.URLs).to.include.members([
      'https://login.microsoftonline.com',
      'https://login.microsoft.com',
      'https://sts.windows.net',
      'https://login.microsoftonline.us',
    ]);
    expect(sso.ExtensionData).to.deep.equal({
      device_registration: '{{DEVICEREGISTRATION}}',
      browser_sso_interaction_enabled: 1,
      disable_explicit_app_prompt: 1,
      AppPrefixAllowList: 'com.apple.',
    });
    expect([...device.state.profiles.keys()]).to.include('test.gateway.jit.sso');
    expect(device.state.apps.get('com.azure.authenticator')?.status).to.equal('Installing');
    await eventually(async () => expect((await readiness(id)).state).to.equal('installing'), 5_000);

    // The readiness job asks for ManagedApplicationList; the app finishes installing over the next polls.
    const lists: AnsweredCommand[] = [];
    const ready = await eventually(
      async () => {
        lists.push(...(await device.poll()).filter((a) => a.requestType === 'ManagedApplicationList'));
        const current = await readiness(id);
        expect(current.state).to.equal('ready');
        return current;
      },
      15_000,
      100,
    );
    expect(lists.length).to.be.greaterThan(0);
    for (const list of lists) {
      expect(list.command.Identifiers).to.deep.equal(['com.azure.authenticator']);
      expect(formatViolations(validateCommand('ManagedApplicationList', list.command))).to.equal('');
    }
    expect(lists.some((l) => JSON.stringify(l.report).includes('Managed'))).to.equal(true);
    expect(ready.steps.map((s) => `${s.name}:${s.state}`)).to.deep.equal([
      'install-app:done',
      'install-sso-profile:done',
      'confirm-app:done',
    ]);
    const record = (await (await gw.fetch(`/api/mdm/devices/${id}`, { headers: adminHeaders() })).json()) as {
      managedApps: { identifier: string; status: string }[];
    };
    expect(record.managedApps).to.deep.include({ identifier: 'com.azure.authenticator', status: 'Managed' });
  });

  it('ends needs-attention when Authenticator never finishes installing', async () => {
    const { device, id } = await enrolledDevice(10_000);
    const final = await eventually(
      async () => {
        await device.poll();
        const current = await readiness(id);
        expect(current.state).to.equal('needs-attention');
        return current;
      },
      20_000,
      100,
    );
    expect(final.steps.find((s) => s.name === 'confirm-app')).to.include({ state: 'failed' });
    expect(final.steps.find((s) => s.name === 'confirm-app')?.detail).to.match(/Installing/);
  });

  it('stops checking once the device refused the Authenticator install, and logs only what is news', async () => {
    const { device, id } = await enrolledDevice();
    device.script({ RequestType: 'InstallApplication', respond: 'Error' });
    await device.poll();
    const linesOf = () =>
      gw.logs.filter(
        (line) =>
          (line.plugin === 'jit-registration' && line.deviceId === id) ||
          String(line.jobId ?? '').startsWith(`ready-${id}`),
      );
    await eventually(
      () =>
        expect(linesOf().map((l) => l.msg)).to.include(
          'device refused an install; it needs attention, not checking again',
        ),
      10_000,
      50,
    );
    expect((await readiness(id)).state).to.equal('needs-attention');
    // Nothing waits in the queue for this device: no retry after the outcome is known.
    const queue = gw.gateway.context('jit-registration').queue('jit-readiness').queue;
    const pending = [...(await queue.getDelayed()), ...(await queue.getWaiting())].filter((job) =>
      String(job.id).startsWith(`ready-${id}`),
    );
    expect(pending).to.deep.equal([]);
    // Longer than the next three backoffs (400, 800, 1600 ms): no more lines, and never a "job failed".
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const lines = linesOf();
    expect(lines.filter((l) => l.msg === 'job failed')).to.deep.equal([]);
    expect(lines.length, JSON.stringify(lines)).to.be.at.most(2);
    expect(
      lines.filter((l) => l.msg === 'device refused an install; it needs attention, not checking again'),
    ).to.have.length(1);
  });

  it('logs a device that never gets ready twice: the first wait and the give-up', async () => {
    const { device, id } = await enrolledDevice(10_000);
    const linesOf = () =>
      gw.logs.filter(
        (line) =>
          (line.plugin === 'jit-registration' && line.deviceId === id) ||
          String(line.jobId ?? '').startsWith(`ready-${id}`),
      );
    await eventually(
      async () => {
        await device.poll();
        expect(linesOf().map((l) => l.msg)).to.include('device never became ready; gave up, it needs attention');
      },
      20_000,
      100,
    );
    expect(linesOf().map((l) => l.msg)).to.deep.equal([
      'device not ready yet; checking again',
      'device never became ready; gave up, it needs attention',
    ]);
  });

  it('tells unenrollment what it installed, leaving out an install the device refused', async () => {
    const source = gw.gateway
      .context('jit-registration')
      .extensions(managedItemsPoint)
      .find((c) => c.plugin === 'jit-registration')?.value;
    if (!source) throw new Error('jit-registration contributes no managed items');
    const { id } = await enrolledDevice();
    expect(await source.installedOn(id)).to.deep.equal([
      { kind: 'application', identifier: 'com.azure.authenticator', displayName: 'Microsoft Authenticator' },
      { kind: 'profile', identifier: 'test.gateway.jit.sso', displayName: 'Microsoft Enterprise SSO' },
    ]);
    const refusing = await enrolledDevice();
    refusing.device.script({ RequestType: 'InstallProfile', respond: 'Error' });
    await refusing.device.poll();
    await eventually(async () =>
      expect((await source.installedOn(refusing.id)).map((i) => i.kind)).to.deep.equal(['application']),
    );
    expect(await source.installedOn('0123456789abcdef01234567')).to.deep.equal([]);
  });

  it('serves the default policy, refuses padded values with 400 and saves nothing, and audits a valid change', async () => {
    const initial = (await (await gw.fetch('/api/jit/sso-policy', { headers: adminHeaders() })).json()) as Record<
      string,
      unknown
    >;
    expect(initial.version).to.equal(0);
    expect(initial.appPrefixAllowList).to.equal('com.apple.');
    const { version: _v, updatedBy: _b, updatedAt: _a, ...policy } = initial;

    for (const bad of [
      { ...policy, appPrefixAllowList: 'com.apple. ' },
      { ...policy, urls: ['https://login.microsoftonline.com '] },
      { ...policy, urls: ['http://login.microsoftonline.com'] },
      { ...policy, appPrefixAllowList: 'com.apple., com.contoso.' },
      { ...policy, additionalExtensionData: { ' key': 'x' } },
      { ...policy, additionalExtensionData: { key: 'value ' } },
    ]) {
      const res = await putPolicy(bad);
      expect(res.status, JSON.stringify(bad)).to.equal(400);
    }
    const unchanged = (await (await gw.fetch('/api/jit/sso-policy', { headers: adminHeaders() })).json()) as {
      version: number;
    };
    expect(unchanged.version).to.equal(0);

    expect((await gw.fetch('/api/jit/sso-policy', { headers: adminHeaders('reader') })).status).to.equal(403);
    const saved = await putPolicy({ ...policy, appPrefixAllowList: 'com.apple.,com.contoso.', version: 0 });
    expect(saved.status).to.equal(200);
    expect(await saved.json()).to.include({ version: 1, appPrefixAllowList: 'com.apple.,com.contoso.' });
    const audit = await gw.gateway
      .context('jit-registration')
      .mongo.collection('audit_log')
      .find({ action: 'jit.ssoPolicy.update' })
      .toArray();
    expect(audit).to.have.length(1);
    expect(audit[0].before).to.include({ appPrefixAllowList: 'com.apple.' });
    expect(audit[0].after).to.include({ appPrefixAllowList: 'com.apple.,com.contoso.' });

    // The next enrolled device gets the edited policy.
    const { device } = await enrolledDevice();
    const answered = await device.poll();
    const profile = answered.find((a) => a.requestType === 'InstallProfile') as AnsweredCommand;
    const dict = parsePlist((profile.command.Payload as Buffer).toString('utf8')) as {
      PayloadContent: { ExtensionData: Record<string, unknown> }[];
    };
    expect(dict.PayloadContent[0].ExtensionData.AppPrefixAllowList).to.equal('com.apple.,com.contoso.');
  });
});
