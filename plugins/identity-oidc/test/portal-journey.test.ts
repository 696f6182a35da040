import { expect } from 'chai';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventually } from '../../../test/support/eventually.js';
import { PORTAL_URL, type PortalHarness, startPortalHarness } from '../../../test/support/portal-harness.js';

const phaseOf = (html: string) => /data-state="([^"]+)"/.exec(html)?.[1];

describe('identity-oidc: the Company Portal journey with a generic OpenID Connect provider', function () {
  this.timeout(90_000);
  let portal: PortalHarness;
  before(async () => {
    portal = await startPortalHarness('oidcportal', { identityProvider: 'oidc' });
  });
  after(async () => {
    await portal?.stop();
  });

  it('signs in, is offered the profile of its group, downloads it, and the device enrolls to ready', async () => {
    const anonymous = await portal.client().page('/');
    expect(anonymous.url, 'an anonymous visitor is asked to sign in').to.match(/\/signin\?returnTo=/);

    const bob = await portal.signIn(portal.accounts.staff);
    const csrf = await bob.csrf();
    const started = await bob.post('/enroll/download', { csrf });
    expect(started.status).to.equal(303);
    const statusPath = started.headers.get('location') ?? '';
    expect(statusPath).to.match(/^\/enroll\/status\/[0-9a-f-]{36}$/);

    const page = await bob.page(statusPath);
    const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(page.html)?.[1];
    const hop = await bob.browser.request(`${PORTAL_URL}${refresh}`);
    const profile = await bob.browser.request(hop.headers.get('location') ?? '');
    expect(profile.status).to.equal(200);
    expect(profile.headers.get('content-type')).to.equal('application/x-apple-aspen-config');

    const phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL });
    phone.installProfileFile(Buffer.from(await profile.arrayBuffer()));
    await phone.enroll();
    const enrollments = await portal.gw.gateway
      .context('mdm')
      .mongo.collection('mdm_enrollments')
      .find({ userId: portal.accounts.staff.oid })
      .toArray();
    expect(enrollments).to.have.length(1);
    await eventually(async () => {
      await phone.poll();
      expect(phaseOf((await bob.page(statusPath)).html)).to.equal('ready');
    }, 30_000);
  });
});
