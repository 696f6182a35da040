import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { eventsDelivered, eventually, type PluginHarness, startPluginHarness } from 'enrollment-gateway/testing';
import type { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';
import { OidcStandin, type StandinAccount } from '../../../test/support/oidc-standin.js';
import { TestBrowser } from '../../../test/support/test-browser.js';

const PUBLIC_URL = 'https://gateway.test';
const STAFF = 'c0000000-0000-0000-0000-00000000057a';
const PILOT = 'c0000000-0000-0000-0000-0000000091a7';

describe('ddm: a change of a user’s groups re-syncs their devices', function () {
  this.timeout(120_000);
  let standin: OidcStandin;
  let h: PluginHarness;
  let bob: StandinAccount;
  let deviceId: string;
  let device: SimulatedDevice;
  let ddm: SimulatedDdm;

  /** A sign-in through the real redirects: identity-entra stores the groups the token carries. */
  const signIn = async (account: StandinAccount) => {
    standin.autoLogin = account.oid;
    const browser = new TestBrowser(PUBLIC_URL, h.url);
    const { response } = await browser.navigate(`${PUBLIC_URL}/auth/signin?returnTo=${encodeURIComponent('/auth/me')}`);
    expect(response.status).to.equal(200);
    await eventsDelivered(h.gateway.gateway);
  };
  const groupEvents = () =>
    h.context('ddm').mongo.collection('core_events').countDocuments({ event: 'user.groupsChanged' });

  before(async () => {
    standin = await OidcStandin.start({ redirectUris: [`${PUBLIC_URL}/auth/callback`] });
    bob = standin.addAccount({ oid: randomUUID(), upn: 'bob@contoso.test', name: 'Bob User', groups: [STAFF] });
    h = await startPluginHarness({
      label: 'ddmgroups',
      plugins: [],
      enable: ['ddm', 'identity-entra'],
      config: {
        http: { trustProxy: true },
        plugins: {
          'identity-entra': {
            enabled: true,
            ...standin.entraConfig(),
          },
        },
      },
    });
  });
  after(async () => {
    await h?.stop();
    await standin?.stop();
  });

  it('moves an OS update policy assigned to a group onto the device: one command, one push, one sync', async () => {
    await signIn(bob);
    const enrolled = await h.enrollDevice({ userId: bob.oid, osVersion: '17.4' });
    device = enrolled.device;
    deviceId = enrolled.deviceId;
    ddm = SimulatedDdm.attach(device);
    await device.poll();
    expect(ddm.itemSyncs).to.equal(1);
    const policy = {
      id: 'pilot',
      targetOSVersion: '18.1',
      deadline: '2030-01-15T09:00:00',
      assignment: { groups: [PILOT] },
    };
    const current = (await (await h.adminFetch('/api/ddm/settings')).json()) as { version: number };
    const saved = await h.adminFetch('/api/ddm/settings', {
      method: 'PUT',
      body: JSON.stringify({ version: current.version, osUpdates: [policy] }),
    });
    expect(saved.status, await saved.clone().text()).to.equal(200);
    await eventually(async () => {
      const counts = await h.context('ddm').queue('ddm-resync').queue.getJobCounts('waiting', 'active', 'delayed');
      expect(counts.waiting + counts.active + counts.delayed).to.equal(0);
    });
    expect(await device.poll(), 'bob is not in the pilot group yet').to.deep.equal([]);
    const pushesBefore = h.pushesTo(deviceId);
    const eventsBefore = await groupEvents();

    bob.groups = [STAFF, PILOT];
    await signIn(bob);
    expect(await groupEvents()).to.equal(eventsBefore + 1);
    await eventually(async () => expect(h.pushesTo(deviceId)).to.equal(pushesBefore + 1));
    const answered = await device.poll();
    expect(answered.map((a) => [a.requestType, a.status])).to.deep.equal([['DeclarativeManagement', 'Acknowledged']]);
    expect(ddm.itemSyncs).to.equal(2);
    expect(ddm.declarations.get('gateway.ddm.os-update')?.Payload).to.include({ TargetOSVersion: '18.1' });
  });

  it('a sign-in with the same groups raises nothing and queues nothing', async () => {
    const pushesBefore = h.pushesTo(deviceId);
    const eventsBefore = await groupEvents();
    await signIn(bob);
    expect(await groupEvents()).to.equal(eventsBefore);
    expect(h.pushesTo(deviceId)).to.equal(pushesBefore);
  });

  it('a change that moves no declaration raises the event but queues nothing', async () => {
    const eventsBefore = await groupEvents();
    const pushesBefore = h.pushes.length;
    bob.groups = [STAFF, PILOT, 'c0000000-0000-0000-0000-00000000cafe'];
    await signIn(bob);
    expect(await groupEvents()).to.equal(eventsBefore + 1);
    expect(h.pushes.length).to.equal(pushesBefore);
  });

  it('a group taken away in Entra reaches the device without a sign-in: the group refresh moves the policy off', async () => {
    const pushesBefore = h.pushesTo(deviceId);
    const eventsBefore = await groupEvents();
    bob.groups = [STAFF];
    const job = await h
      .context('identity-entra')
      .queue<{ kind: 'refresh' }>('identity-group-refresh')
      .add('refresh', { kind: 'refresh' });
    await eventually(async () => expect(await job.getState()).to.equal('completed'), 30_000);
    await eventsDelivered(h.gateway.gateway);
    expect(await groupEvents()).to.equal(eventsBefore + 1);
    await eventually(async () => expect(h.pushesTo(deviceId)).to.equal(pushesBefore + 1));
    const answered = await device.poll();
    expect(answered.map((a) => [a.requestType, a.status])).to.deep.equal([['DeclarativeManagement', 'Acknowledged']]);
    expect(ddm.declarations.has('gateway.ddm.os-update')).to.equal(false);
  });
});
