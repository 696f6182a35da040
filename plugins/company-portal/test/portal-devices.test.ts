import { connect } from 'node:net';
import { expect } from 'chai';
import { definePlugin, deviceDirectoryRef, deviceStatusItemsPoint } from 'enrollment-gateway/sdk';
import { type DeviceInfoOptions, SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
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
  coreApi: '^2.0.0',
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
  coreApi: '^2.0.0',
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
  /** Off: the phone is out of reach (it does not poll, so it answers nothing). */
  let answering = true;
  let poller: Promise<void>;

  /** The user downloads the profile from the portal, and a simulated iPhone installs it and enrolls. */
  const enrollThroughPortal = async (user: PortalClient, info: DeviceInfoOptions = {}) => {
    const start = await user.post('/enroll/download', { csrf: await user.csrf() });
    const status = start.headers.get('location') ?? '';
    const hop = await user.browser.request(`${PORTAL_URL}${status}/profile`);
    const profile = await user.browser.request(hop.headers.get('location') ?? '');
    const device = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL, ...info });
    device.installProfileFile(Buffer.from(await profile.arrayBuffer()));
    await device.enroll();
    await eventsDelivered(portal.gw.gateway);
    return device;
  };
  /** The device as mdm describes it, through the SDK. */
  const recordOf = async (udid: string) => {
    const record = await portal.gw.gateway.context('company-portal').resolve(deviceDirectoryRef).getByUdid(udid);
    if (!record) throw new Error(`device ${udid} is not recorded`);
    return record;
  };

  before(async () => {
    portal = await startPortalHarness('portaldevices', {
      unenrollment: true,
      extraPlugins: [statusLines, brokenLines],
      plugins: { unenrollment: { pollIntervalMs: 100, acknowledgementTimeoutMs: 10_000 } },
    });
    bob = await portal.signIn(portal.accounts.staff);
    phone = await enrollThroughPortal(bob);
    // The phone answers whenever it is reachable, as after each push, until its management profile is gone.
    poller = (async () => {
      while (polling && phone.enrolled) {
        if (answering) await phone.poll().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    deviceId = (await recordOf(phone.udid)).id;
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

  it('refuses a second "Check status" while the first still waits (429), and allows one once answered', async () => {
    const csrf = await bob.csrf();
    /** DeviceInformation commands queued for the device, from the admin API's command history. */
    const commands = async () => {
      const res = await portal.gw.fetch(`/api/mdm/devices/${deviceId}/commands?limit=200`, {
        headers: { authorization: 'Bearer admin-all' },
      });
      expect(res.status).to.equal(200);
      const { items } = (await res.json()) as { items: { requestType: string }[] };
      return items.filter((c) => c.requestType === 'DeviceInformation').length;
    };
    answering = false;
    let queuedBefore: number;
    try {
      const first = await bob.post(`/devices/${deviceId}/check`, { csrf });
      expect(first.status).to.equal(303);
      queuedBefore = await commands();
      const again = await bob.post(`/devices/${deviceId}/check`, { csrf });
      expect(again.status).to.equal(429);
      const body = await again.text();
      expect(body).to.include('The device has not answered the last check yet.');
      expect(body).to.include('data-check="waiting"');
      expect(await commands(), 'no second command queued').to.equal(queuedBefore);
    } finally {
      answering = true;
    }
    const answered = async () =>
      eventually(
        async () => expect((await bob.page(`/devices/${deviceId}`)).html).to.include('data-check="answered"'),
        20_000,
        200,
      );
    await answered();
    const next = await bob.post(`/devices/${deviceId}/check`, { csrf });
    expect(next.status).to.equal(303);
    await answered();
  });

  const events = (signal?: AbortSignal) => bob.browser.request(`${PORTAL_URL}/devices/${deviceId}/events`, { signal });

  /** A request whose browser is gone before the gateway has looked at the session. */
  const abandoned = async () => {
    const cookie = [...bob.browser.cookiesOf(PORTAL_URL)].map(([k, v]) => `${k}=${v}`).join('; ');
    const target = new URL(portal.gw.url);
    const socket = connect(Number(target.port), target.hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.end(
      `GET /devices/${deviceId}/events HTTP/1.1\r\nHost: gateway.test\r\nX-Forwarded-Proto: https\r\n` +
        `Cookie: ${cookie}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    socket.destroy();
  };

  it('caps the streams one user holds open (429 above the limit) and frees a slot when one closes', async () => {
    const open: AbortController[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const controller = new AbortController();
        const res = await events(controller.signal);
        expect(res.status, `stream ${i + 1}`).to.equal(200);
        open.push(controller);
      }
      const refused = await events();
      expect(refused.status).to.equal(429);
      expect(refused.headers.get('content-type')).to.match(/problem\+json/);
      expect(refused.headers.get('retry-after')).to.match(/^\d+$/);
      open.shift()?.abort();
      const admitted = await eventually(async () => {
        const controller = new AbortController();
        const res = await events(controller.signal);
        if (res.status !== 200) await res.body?.cancel();
        expect(res.status).to.equal(200);
        return controller;
      }, 10_000);
      open.push(admitted);
    } finally {
      for (const controller of open) controller.abort();
    }
  });

  it('a browser that left before its stream opened holds no slot', async () => {
    // Wait for the slots of the previous test to be given back.
    await eventually(async () => {
      const res = await events();
      await res.body?.cancel();
      expect(res.status).to.equal(200);
    }, 10_000);
    for (let i = 0; i < 8; i++) await abandoned();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const open: AbortController[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const controller = new AbortController();
        open.push(controller);
        expect((await events(controller.signal)).status, `stream ${i + 1}`).to.equal(200);
      }
    } finally {
      for (const controller of open) controller.abort();
    }
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

  it("does not show a device's old name to the next user who enrolls it", async () => {
    // Bob's name for it stays on record after the removal (the portal keeps it with its owner).
    const names = portal.gw.gateway.context('company-portal').mongo.collection('portal_device_names');
    expect((await names.findOne({ _id: deviceId as never }))?.name).to.equal(MARKUP);
    // The same iPhone, enrolled again by someone else: the same device record, a new owner.
    const mallory = await portal.signIn(portal.accounts.other);
    await enrollThroughPortal(mallory, { udid: phone.udid, serialNumber: phone.info.serialNumber });
    const record = await recordOf(phone.udid);
    expect(record.id, 'the same device record').to.equal(deviceId);
    expect(record.userId).to.equal(portal.accounts.other.oid);
    for (const path of [`/devices/${deviceId}`, `/devices/${deviceId}/remove`, '/devices']) {
      const page = await mallory.page(path);
      expect(page.status, path).to.equal(200);
      expect(page.html, path).not.to.include('onerror=alert(1)');
    }
  });
});
