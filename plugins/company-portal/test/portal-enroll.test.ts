import { expect } from 'chai';
import { definePlugin, enrollmentPayloadsPoint, VetoError } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventually } from '../../../test/support/eventually.js';
import type { TestGateway } from '../../../test/support/gateway.js';
import {
  PORTAL_URL,
  type PortalClient,
  type PortalHarness,
  readEvents,
  startPortalHarness,
} from '../../../test/support/portal-harness.js';

const pageId = (html: string) => /<body data-page="([^"]+)"/.exec(html)?.[1];
const phaseOf = (html: string) => /data-state="([^"]+)"/.exec(html)?.[1];
const VETO_MESSAGE = 'Your device must run the latest iOS <17.6> before it can enroll.';

/** Vetoes the enrollment of one user, as a compliance plugin would, with a message for the user. */
const vetoed = { userId: '' };
const vetoPlugin = definePlugin({
  name: 'test-veto',
  version: '1.0.0',
  coreApi: '^2.0.0',
  dependsOn: ['mdm'],
  register(api) {
    api.contribute(enrollmentPayloadsPoint, () => ({
      async payloads(request) {
        if (request.userId === vetoed.userId) throw new VetoError('test-veto', VETO_MESSAGE);
        return [];
      },
    }));
  },
});

describe('company-portal: downloading the profile and following the device', function () {
  this.timeout(90_000);
  let portal: PortalHarness;
  let replica: TestGateway | undefined;

  before(async () => {
    portal = await startPortalHarness('portalenroll', { extraPlugins: [vetoPlugin] });
    vetoed.userId = portal.accounts.oldPhone.oid;
  });
  after(async () => {
    await replica?.stop();
    await portal?.stop();
  });

  const enrollments = (userId: string) =>
    portal.gw.gateway.context('mdm').mongo.collection('mdm_enrollments').find({ userId }).toArray();

  /** Posts the Enroll form; returns the status page path it redirects to. */
  async function download(client: PortalClient): Promise<string> {
    const res = await client.post('/enroll/download', { csrf: await client.csrf() });
    expect(res.status).to.equal(303);
    const location = res.headers.get('location') ?? '';
    expect(location).to.match(/^\/enroll\/status\/[0-9a-f-]{36}$/);
    return location;
  }

  /** Follows the status page's automatic download to the signed profile, as the browser does. */
  async function fetchProfile(client: PortalClient, statusPath: string) {
    const page = await client.page(statusPath);
    const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(page.html)?.[1];
    expect(refresh).to.equal(`${statusPath}/profile`);
    const hop = await client.browser.request(`${PORTAL_URL}${refresh}`);
    expect(hop.status).to.equal(302);
    const profileUrl = hop.headers.get('location') ?? '';
    expect(profileUrl).to.match(/^https:\/\/gateway\.test\/mdm\/enroll\//);
    const profile = await client.browser.request(profileUrl);
    expect(profile.status).to.equal(200);
    expect(profile.headers.get('content-type')).to.equal('application/x-apple-aspen-config');
    return Buffer.from(await profile.arrayBuffer());
  }

  it('refuses the download without the CSRF token, and creates nothing', async () => {
    const bob = await portal.signIn(portal.accounts.staff);
    for (const fields of [{}, { csrf: 'forged' }] as Record<string, string>[]) {
      const res = await bob.post('/enroll/download', fields);
      expect(res.status).to.equal(403);
      expect(pageId(await res.text())).to.equal('csrf');
    }
    expect(await enrollments(portal.accounts.staff.oid)).to.have.length(0);
  });

  it('downloads a signed profile, cancels an earlier download, and the status page follows the device to ready on another replica', async () => {
    const bob = await portal.signIn(portal.accounts.staff);
    const first = await download(bob);
    const firstProfile = await fetchProfile(bob, first);
    expect(phaseOf((await bob.page(first)).html)).to.equal('install');
    // The Enroll page now offers to follow the waiting download, and says a new one replaces it.
    const enroll = await bob.page('/');
    expect(enroll.html).to.include(`href="${first}"`).and.include('Download again');

    const second = await download(bob);
    const cancelled = await bob.page(first);
    expect(phaseOf(cancelled.html)).to.equal('cancelled');
    expect(cancelled.html).to.include('iOS keeps only the newest one');
    const stale = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL });
    stale.installProfileFile(firstProfile);
    let refused: unknown;
    await stale.enroll().catch((error) => {
      refused = error;
    });
    expect(refused, 'the cancelled download must not enroll').to.include({ reason: 'scep-failure' });

    // A second gateway replica serves the live status; the device talks to the first one.
    replica = await portal.replica('serve');
    const events = await portal.on(replica, bob).browser.request(`${PORTAL_URL}${second}/events`);
    expect(events.headers.get('content-type')).to.include('text/event-stream');
    const phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL, installPolls: 2 });
    phone.installProfileFile(await fetchProfile(bob, second));
    let polling = true;
    const poller = (async () => {
      await phone.enroll();
      while (polling) {
        await phone.poll();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const seen = await readEvents(events, (list) => list.some((e) => e.event === 'done'), 30_000);
    polling = false;
    await poller;
    const phases = seen.filter((e) => e.event === 'update').map((e) => phaseOf(String(e.data.html)));
    expect(phases.at(-1)).to.equal('ready');
    expect(phases).to.include('installing');
    expect(seen.at(-1)?.event).to.equal('done');
    const ready = await bob.page(second);
    expect(phaseOf(ready.html)).to.equal('ready');
    expect(ready.html).not.to.include('http-equiv="refresh"');
  });

  it('shows the message of a plugin that vetoes the enrollment', async () => {
    const olga = await portal.signIn(portal.accounts.oldPhone);
    const res = await olga.post('/enroll/download', { csrf: await olga.csrf() });
    expect(res.status).to.equal(403);
    const html = await res.text();
    expect(pageId(html)).to.equal('enroll');
    expect(html).to.include('role="alert"').and.include('Your device must run the latest iOS &lt;17.6&gt;');
    expect(await enrollments(portal.accounts.oldPhone.oid)).to.have.length(0);
  });

  it('an expired session mid-flow goes back to sign-in, and returns to the page after signing in', async () => {
    const bob = await portal.signIn(portal.accounts.staff);
    const csrf = await bob.csrf();
    const status = await download(bob);
    const identity = portal.gw.gateway.context('identity-entra');
    const keys = await identity.redis.keys(`${identity.redisKeyPrefix}session:*`);
    expect(keys.length).to.be.greaterThan(0);
    await identity.redis.del(...keys);

    const post = await bob.post('/enroll/download', { csrf });
    expect(post.status).to.equal(303);
    expect(post.headers.get('location')).to.equal('/signin?returnTo=%2F');
    const page = await bob.browser.request(`${PORTAL_URL}${status}`);
    expect(page.status).to.equal(303);
    expect(page.headers.get('location')).to.equal(`/signin?returnTo=${encodeURIComponent(status)}`);
    const stream = await bob.browser.request(`${PORTAL_URL}${status}/events`);
    const [event] = await readEvents(stream, (list) => list.length > 0);
    expect(event).to.deep.equal({
      event: 'signin',
      data: { location: `/signin?returnTo=${encodeURIComponent(status)}` },
    });

    const signInPage = await bob.page(`/signin?returnTo=${encodeURIComponent(status)}`);
    const href = /href="(\/auth\/signin\?returnTo=[^"]+)"/.exec(signInPage.html)?.[1] ?? '';
    portal.standin.autoLogin = portal.accounts.staff.oid;
    const back = await bob.page(href.replace(/&amp;/g, '&'));
    expect(back.url).to.equal(`${PORTAL_URL}${status}`);
    expect(pageId(back.html)).to.equal('status');
  });

  it("another user's enrollment status is not found", async () => {
    const bob = await portal.signIn(portal.accounts.staff);
    const status = await download(bob);
    const mallory = await portal.signIn(portal.accounts.other);
    const page = await mallory.page(status);
    expect(page.status).to.equal(404);
    const hop = await mallory.browser.request(`${PORTAL_URL}${status}/profile`);
    expect(hop.status).to.equal(404);
    await eventually(async () => expect(await enrollments(portal.accounts.other.oid)).to.have.length(0));
  });
});
