import { expect } from 'chai';
import { definePlugin, deviceStatusItemsPoint } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventually } from '../../../test/support/eventually.js';
import {
  csrfOf,
  PORTAL_URL,
  type PortalClient,
  type PortalHarness,
  startPortalHarness,
} from '../../../test/support/portal-harness.js';

const pageId = (html: string) => /<body data-page="([^"]+)"/.exec(html)?.[1];
const MARKUP = '<img src=x onerror=alert(1)>';

/** Status lines from other plugins: one that works (with markup in it) and one that always throws. */
const statusLines = definePlugin({
  name: 'test-status-lines',
  version: '1.0.0',
  coreApi: '^1.1.0',
  register(api) {
    api.contribute(deviceStatusItemsPoint, () => ({
      async statusFor(devices) {
        return Object.fromEntries(
          devices.map((d) => [
            d.id,
            [{ label: 'Compliance', value: 'Not compliant <b>', tone: 'critical' as const, action: 'Update iOS' }],
          ]),
        );
      },
    }));
  },
});
const brokenLines = definePlugin({
  name: 'test-broken-lines',
  version: '1.0.0',
  coreApi: '^1.1.0',
  register(api) {
    api.contribute(deviceStatusItemsPoint, () => ({
      async statusFor(): Promise<never> {
        throw new Error('status source is down');
      },
    }));
  },
});

describe('company-portal: My devices (rename, check status, remove)', function () {
  this.timeout(120_000);
  let portal: PortalHarness;
  let bob: PortalClient;
  let phone: SimulatedDevice;
  let deviceId: string;
  let polling = true;
  let poller: Promise<void>;

  before(async () => {
    portal = await startPortalHarness('portaldevices', {
      unenrollment: true,
      extraPlugins: [statusLines, brokenLines],
      plugins: { unenrollment: { pollIntervalMs: 100, acknowledgementTimeoutMs: 10_000 } },
    });
    bob = await portal.signIn(portal.accounts.staff);
    const start = await bob.post('/enroll/download', { csrf: await bob.csrf() });
    const status = start.headers.get('location') ?? '';
    const hop = await bob.browser.request(`${PORTAL_URL}${status}/profile`);
    const profile = await bob.browser.request(hop.headers.get('location') ?? '');
    phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL });
    phone.installProfileFile(Buffer.from(await profile.arrayBuffer()));
    await phone.enroll();
    // The phone answers whenever it is reachable, as after each push, until its management profile is gone.
    poller = (async () => {
      while (polling && phone.enrolled) {
        await phone.poll().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const record = await portal.gw.gateway.context('mdm').mongo.collection('mdm_devices').findOne({ udid: phone.udid });
    deviceId = String(record?._id);
  });
  after(async () => {
    polling = false;
    await poller;
    await portal?.stop();
  });

  it('lists the device with its state, last check-in and model, and shows contributed status lines', async () => {
    const list = await bob.page('/devices');
    expect(pageId(list.html)).to.equal('devices');
    expect(list.html).to.include(`href="/devices/${deviceId}"`);
    expect(list.html).to.include('Last check-in').and.include(phone.info.productName);
    await eventually(
      async () => expect((await bob.page('/devices')).html).to.include('Managed · Ready for work'),
      20_000,
    );

    const page = await bob.page(`/devices/${deviceId}`);
    expect(page.status).to.equal(200);
    expect(page.html).to.include(phone.info.serialNumber).and.include(phone.info.osVersion);
    expect(page.html).to.include('Not compliant &lt;b&gt;').and.include('tone-critical').and.include('Update iOS');
    expect(page.html).to.include(`data-live="/devices/${deviceId}/events"`);
  });

  it('puts the Company Portal web clip on the device after enrollment', async () => {
    await eventually(() => expect([...phone.state.profiles.keys()]).to.include('test.gateway.webclip'), 20_000);
  });

  it('renames the device; markup in the name renders as text', async () => {
    const csrf = await bob.csrf();
    const refused = await bob.post(`/devices/${deviceId}/rename`, { name: 'No token' });
    expect(refused.status).to.equal(403);
    const empty = await bob.post(`/devices/${deviceId}/rename`, { name: '   ', csrf });
    expect(empty.status).to.equal(400);
    expect(await empty.text()).to.include('Enter a name of 1 to 60 characters.');

    const res = await bob.post(`/devices/${deviceId}/rename`, { name: MARKUP, csrf });
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal(`/devices/${deviceId}?renamed=1`);
    for (const path of [`/devices/${deviceId}?renamed=1`, '/devices']) {
      const page = await bob.page(path);
      expect(page.html).to.include('&lt;img src=x onerror=alert(1)&gt;');
      expect(page.html).not.to.include(MARKUP);
    }
  });

  it("refuses another user's device with 403 and changes nothing", async () => {
    const mallory = await portal.signIn(portal.accounts.other);
    const csrf = await mallory.csrf();
    expect((await mallory.page(`/devices/${deviceId}`)).status).to.equal(403);
    expect((await mallory.page(`/devices/${deviceId}/remove`)).status).to.equal(403);
    for (const action of ['remove', 'check', 'rename']) {
      const res = await mallory.post(`/devices/${deviceId}/${action}`, { csrf, name: 'Mine now' });
      expect(res.status, action).to.equal(403);
      expect(pageId(await res.text())).to.equal('forbidden');
    }
    const page = await bob.page(`/devices/${deviceId}`);
    expect(page.html).not.to.include('Mine now').and.not.to.include('data-removal');
    expect((await mallory.page('/devices/000000000000000000000000')).status).to.equal(404);
  });

  it('checks status: asks the device through a push and shows its answer when it comes', async () => {
    const wakesBefore = portal.woken.flat().filter((id) => id === deviceId).length;
    const res = await bob.post(`/devices/${deviceId}/check`, { csrf: await bob.csrf() });
    expect(res.status).to.equal(303);
    expect(portal.woken.flat().filter((id) => id === deviceId).length).to.be.greaterThan(wakesBefore);
    const answered = await eventually(
      async () => {
        const page = await bob.page(`/devices/${deviceId}`);
        expect(page.html).to.include('data-check="answered"');
        return page.html;
      },
      20_000,
      200,
    );
    expect(answered).to.include(`${Math.round(phone.info.batteryLevel * 100)} %`);
  });

  it('removes the device after a confirmation that says what is erased and what stays', async () => {
    const confirm = await bob.page(`/devices/${deviceId}/remove`);
    expect(pageId(confirm.html)).to.equal('remove');
    expect(confirm.html).to.include('What is removed').and.include('What stays');
    expect(confirm.html).to.include('Your device is not erased or reset');
    const res = await bob.post(`/devices/${deviceId}/remove`, { csrf: csrfOf(confirm.html) });
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal(`/devices/${deviceId}`);
    const progress = await bob.page(`/devices/${deviceId}`);
    expect(progress.html).to.include('data-removal=');
    const done = await eventually(
      async () => {
        const page = await bob.page(`/devices/${deviceId}`);
        expect(page.html).to.include('data-removal="completed"');
        return page.html;
      },
      30_000,
      200,
    );
    expect(done).to.include('data-device-state="retired"');
    expect(phone.enrolled).to.equal(false);
    expect([...phone.state.profiles.keys()]).not.to.include('test.gateway.webclip');
    expect((await bob.page('/devices')).html).not.to.include(`href="/devices/${deviceId}"`);
  });
});
