import { expect } from 'chai';
import { eventsDelivered, eventually, type PluginHarness, startPluginHarness } from 'enrollment-gateway/testing';
import { formatViolations, validateCommand, validateProfile } from '../../../test/support/apple-schema.js';
import { TestAttestationRoot } from '../../../test/support/device-simulator-acme.js';
import acme from '../index.js';

/**
 * Identities last 365 days (mdm's default) and the window is longer, so every attested identity is due: the hourly
 * job renews it by reinstalling the enrollment profile with an ACME renewal payload, and the device runs ACME again.
 */
describe('acme: renewal of attested identities, delivered by InstallProfile', function () {
  this.timeout(90_000);
  let h: PluginHarness;
  let root: TestAttestationRoot;
  let user = 0;

  before(async () => {
    root = await TestAttestationRoot.create();
    h = await startPluginHarness({
      plugins: [acme],
      label: 'acmerenew',
      config: {
        plugins: {
          acme: { attestationRootsPem: root.rootPem, renewalWindowDays: 400, attestPropertiesOnEnrollment: false },
        },
      },
    });
  });
  after(() => h?.stop());

  const enroll = (osVersion = '17.5') => h.enrollDevice({ userId: `renew-${++user}`, osVersion, attestation: root });

  async function runSweep(): Promise<unknown> {
    const queue = h.context('acme').queue('acme-renewal');
    const job = await queue.add('renew', { kind: 'renew' });
    return eventually(async () => {
      const done = await queue.queue.getJob(job.id ?? '');
      expect(await job.getState(), done?.failedReason).to.equal('completed');
      return done?.returnvalue;
    });
  }

  it('renews an identity nearing expiry: the device replaces its enrollment profile, runs ACME, and checks in with the new identity', async () => {
    const { device, deviceId } = await enroll();
    const before = device.identity;
    const identifier = device.enrollment?.profile.identifier;
    expect(await runSweep()).to.deep.equal({ renewed: 1 });
    // A second run (another worker, the next hour) finds the renewal already delivered.
    expect(await runSweep()).to.deep.equal({ renewed: 0 });

    const answered = await device.poll();
    const install = answered.find((a) => a.requestType === 'InstallProfile');
    if (!install) return expect.fail(`no InstallProfile: ${answered.map((a) => a.requestType).join(', ')}`);
    expect(install.status, JSON.stringify(install.errorChain)).to.equal('Acknowledged');
    const commandViolations = validateCommand('InstallProfile', install.command);
    expect(commandViolations, formatViolations(commandViolations)).to.deep.equal([]);

    const renewed = device.enrollment;
    if (!renewed) return expect.fail('the device lost its enrollment profile');
    expect(renewed.profile.identifier).to.equal(identifier);
    expect(renewed.acme).to.include({ keyType: 'ECSECPrimeRandom', keySize: 384, hardwareBound: true, attest: true });
    const violations = validateProfile(renewed.plist);
    expect(violations, formatViolations(violations)).to.deep.equal([]);
    expect(device.identity.serialHex).to.not.equal(before.serialHex);
    expect(device.identity.notAfter.getTime()).to.be.greaterThan(before.notAfter.getTime() - 1);
    // The new identity signs: the gateway answers its next session.
    expect(await device.poll()).to.deep.equal([]);
    const listed = await h.adminFetch(`/api/mdm/devices/${deviceId}/certificates`);
    const { items } = (await listed.json()) as { items: { serial: string; revokedAt: string | null }[] };
    expect(items.map((c) => c.serial)).to.include.members([before.serialHex, device.identity.serialHex]);
  });

  it('renews an enrolled device now at the admin’s request, and refuses a device without a current enrollment', async () => {
    const { device, deviceId } = await enroll();
    const before = device.identity.serialHex;
    const res = await h.adminFetch(`/api/acme/devices/${deviceId}/renewal/delivery`, { method: 'POST' });
    expect(res.status, await res.clone().text()).to.equal(202);
    const { commandUuid } = (await res.json()) as { commandUuid: string };
    const answered = await device.poll();
    expect(answered.find((a) => a.commandUuid === commandUuid)?.status).to.equal('Acknowledged');
    expect(device.identity.serialHex).to.not.equal(before);

    await device.checkOut();
    await eventsDelivered(h.gateway.gateway);
    const refused = await h.adminFetch(`/api/acme/devices/${deviceId}/renewal/delivery`, { method: 'POST' });
    expect(refused.status).to.equal(409);
  });

  it('tries again at the next run when the device refuses the renewal profile, and counts the refusal', async () => {
    const failures = async () =>
      Number((await h.metrics()).match(/^gateway_acme_renewal_failures_total(?:\{[^}]*\})? (\d+)/m)?.[1] ?? 0);
    const counted = await failures();
    const { device } = await enroll();
    const before = device.identity.serialHex;
    await runSweep();
    device.script({ RequestType: 'InstallProfile', respond: 'Error' });
    const refused = (await device.poll()).find((a) => a.requestType === 'InstallProfile');
    expect(refused?.status).to.equal('Error');
    expect(device.identity.serialHex).to.equal(before);
    await eventsDelivered(h.gateway.gateway);
    expect(await failures()).to.equal(counted + 1);

    await runSweep();
    const retried = (await device.poll()).find((a) => a.requestType === 'InstallProfile');
    expect(retried?.commandUuid).to.not.equal(refused?.commandUuid);
    expect(retried?.status).to.equal('Acknowledged');
    expect(device.identity.serialHex).to.not.equal(before);
  });

  it('leaves SCEP devices (iOS 15) to SCEP', async () => {
    const { device } = await enroll('15.7');
    await runSweep();
    expect((await device.poll()).map((a) => a.requestType)).to.not.include('InstallProfile');
  });
});
