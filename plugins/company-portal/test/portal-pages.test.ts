import { expect } from 'chai';
import { DEVICE_LIMIT_MESSAGE } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import {
  ANDROID,
  IOS_14,
  IOS_17,
  PORTAL_URL,
  type PortalHarness,
  startPortalHarness,
  WINDOWS,
} from '../../../test/support/portal-harness.js';

const pageId = (html: string) => /<body data-page="([^"]+)"/.exec(html)?.[1];
const IPAD_DESKTOP =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';

describe('company-portal: sign-in, landing and the page for each outcome', function () {
  this.timeout(60_000);
  let portal: PortalHarness;

  before(async () => {
    portal = await startPortalHarness('portalpages');
  });
  after(() => portal?.stop());

  it('sends visitors to the sign-in page, with a strict CSP and no caching', async () => {
    const res = await portal.client().browser.request(`${PORTAL_URL}/`, { headers: { 'user-agent': IOS_17 } });
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal('/signin?returnTo=%2F');
    const signin = await portal.client().page('/signin?returnTo=%2Fdevices');
    expect(pageId(signin.html)).to.equal('signin');
    expect(signin.html).to.include('href="/auth/signin?returnTo=%2Fdevices"');
    expect(signin.html).to.include('Contoso Company Portal');
    const csp = signin.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("default-src 'none'").and.include("script-src 'self'").and.include("style-src 'self'");
    expect(csp).not.to.include('unsafe-inline');
    expect(signin.headers.get('cache-control')).to.equal('no-store');
    // Nothing inline: no <script> without src, no style attributes.
    expect(signin.html).not.to.match(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(signin.html).not.to.match(/\sstyle=/);
  });

  // Each value goes into the query string as written: "%0d%0a" reaches the server as a real CR/LF.
  const offsite = [
    encodeURIComponent('//evil.test/x'),
    encodeURIComponent('https://evil.test/'),
    encodeURIComponent('/\\evil.test'),
    encodeURIComponent('javascript:alert(1)'),
    '/%0d%0aLocation:%20https://evil.test',
    '/.//evil.test',
    '/%2e//evil.test',
    '/a/..//evil.test',
  ];

  it('refuses to send a signed-in user elsewhere from the sign-in page (no open redirect)', async () => {
    const bob = await portal.signIn(portal.accounts.staff);
    for (const query of offsite) {
      const res = await bob.browser.request(`${PORTAL_URL}/signin?returnTo=${query}`);
      expect(res.status, query).to.equal(303);
      expect(res.headers.get('location'), query).to.equal('/');
    }
    const local = await bob.browser.request(`${PORTAL_URL}/signin?returnTo=${encodeURIComponent('/devices?x=1')}`);
    expect(local.headers.get('location')).to.equal('/devices?x=1');
  });

  it('offers visitors a sign-in link that only ever returns to the portal', async () => {
    for (const query of offsite) {
      const page = await portal.client().page(`/signin?returnTo=${query}`);
      expect(pageId(page.html), query).to.equal('signin');
      expect(page.html, query).to.include('href="/auth/signin?returnTo=%2F"');
    }
  });

  it('signs out with the CSRF token, and only with it', async () => {
    const bob = await portal.signIn(portal.accounts.staff);
    const forged = await bob.post('/auth/signout', { csrf: 'forged' });
    expect(forged.status).to.equal(403);
    expect((await bob.page('/devices')).url).to.equal(`${PORTAL_URL}/devices`);
    const out = await bob.post('/auth/signout', { csrf: await bob.csrf() });
    expect(out.status).to.equal(303);
    expect((await bob.page('/devices')).url).to.equal(`${PORTAL_URL}/signin?returnTo=%2Fdevices`);
  });

  it('the deep link goes straight to the identity provider and lands on Enroll after sign-in', async () => {
    const visitor = portal.client();
    const res = await visitor.browser.request(`${PORTAL_URL}/enrollment/webenrollment/ios`);
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal('/auth/signin?returnTo=%2Fenrollment%2Fwebenrollment%2Fios');
    portal.standin.autoLogin = portal.accounts.staff.oid;
    const landed = await visitor.page('/enrollment/webenrollment/ios');
    expect(landed.url).to.equal(`${PORTAL_URL}/enrollment/webenrollment/ios`);
    expect(pageId(landed.html)).to.equal('enroll');
  });

  it('Enroll tells what happens and what the organisation sees, and draws the steps in Settings', async () => {
    const bob = await portal.signIn(portal.accounts.staff);
    const page = await bob.page('/');
    expect(page.status).to.equal(200);
    expect(pageId(page.html)).to.equal('enroll');
    expect(page.html).to.include('Download management profile');
    // "Simulate this device" belongs to `npm run preview` (previewSimulatePath) and never shows otherwise.
    expect(page.html).to.not.include('data-preview-simulate');
    expect(page.html).to.include('Contoso can see:').and.include('Contoso cannot see:');
    expect(page.html).to.include('Your photos and files');
    expect(page.html).to.include('within 8 minutes');
    expect(page.html).to.include('VPN &amp; Device Management');
    const drawings = [
      ...page.html.matchAll(/<img src="(\/portal\/assets\/install-step-\d\.[\w-]+\.svg)"[^>]* alt="([^"]+)"/g),
    ];
    expect(drawings).to.have.length(4);
    for (const [, src, alt] of drawings) {
      expect(alt).to.match(/^Step \d: /);
      const svg = await bob.browser.request(`${PORTAL_URL}${src}`);
      expect(svg.status).to.equal(200);
      expect(svg.headers.get('content-type')).to.include('image/svg+xml');
      expect(svg.headers.get('cache-control')).to.include('immutable');
      expect(await svg.text()).to.include('<svg');
    }
    const icon = await bob.browser.request(`${PORTAL_URL}/apple-touch-icon.png`);
    expect(icon.headers.get('content-type')).to.equal('image/png');
    expect(
      Buffer.from(await icon.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).to.equal('PNG');
  });

  it('iOS 14 gets the Company Portal app, Android and desktops are told they are not supported', async () => {
    const olga = await portal.signIn(portal.accounts.oldPhone, IOS_14);
    const fallback = await olga.page('/');
    expect(pageId(fallback.html)).to.equal('company-portal-app');
    expect(fallback.html)
      .to.include('iOS 14.8')
      .and.include('https://apps.apple.com/app/intune-company-portal/id719171358');

    olga.userAgent = ANDROID;
    const android = await olga.page('/');
    expect(pageId(android.html)).to.equal('unsupported');
    expect(android.html).to.include('Android device');

    olga.userAgent = WINDOWS;
    const windows = await olga.page('/');
    expect(pageId(windows.html)).to.equal('unsupported');
    expect(windows.html).to.include('Open this page in Safari on the iPhone or iPad');
    expect(windows.html).not.to.include('data-recheck');
  });

  it('a Mac User-Agent is re-checked for a touch screen: with the hint it is an iPad and can enroll', async () => {
    const bob = await portal.signIn(portal.accounts.staff, IPAD_DESKTOP);
    const first = await bob.page('/');
    expect(pageId(first.html)).to.equal('unsupported');
    expect(first.html).to.include('data-recheck="touch"');
    bob.browser.setCookie(PORTAL_URL, 'touch', '1');
    const again = await bob.page('/');
    expect(pageId(again.html)).to.equal('enroll');
    expect(again.html).to.include('on this iPad');
  });

  it('a user without an enrollment profile is told to contact IT, with the support contact', async () => {
    const nora = await portal.signIn(portal.accounts.noProfile);
    const page = await nora.page('/');
    expect(pageId(page.html)).to.equal('no-profile');
    expect(page.html).to.include('mailto:help@contoso.test').and.include('tel:+15550100');
  });

  it('at the device limit the user sees the limit message and the way to My devices', async () => {
    const lena = await portal.signIn(portal.accounts.limited);
    expect(pageId((await lena.page('/')).html)).to.equal('enroll');
    const mint = await portal.gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: { authorization: 'Bearer admin-all', 'content-type': 'application/json' },
      body: JSON.stringify({ userId: portal.accounts.limited.oid }),
    });
    expect(mint.status).to.equal(201);
    const phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL });
    await phone.downloadProfile(((await mint.json()) as { profileUrl: string }).profileUrl);
    await phone.enroll();
    await eventsDelivered(portal.gw.gateway);
    const page = await lena.page('/');
    expect(pageId(page.html)).to.equal('device-limit');
    expect(page.html).to.include(DEVICE_LIMIT_MESSAGE.replace("'", '&#39;'));
    expect(page.html).to.include('You have 1 of 1 devices.').and.include('href="/devices"');
  });

  it('a user disabled since signing in is signed out and sent to sign-in', async () => {
    const olga = await portal.signIn(portal.accounts.oldPhone);
    expect(pageId((await olga.page('/devices')).html)).to.equal('devices');
    const disable = await portal.gw.fetch(`/api/identity/users/${portal.accounts.oldPhone.oid}`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer admin-all', 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    });
    expect(disable.status).to.equal(200);
    const res = await olga.browser.request(`${PORTAL_URL}/devices`);
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal('/signin?returnTo=%2Fdevices');
    const audit = await portal.gw.gateway
      .context('company-portal')
      .mongo.collection('audit_log')
      .findOne({ action: 'identity.session.refused', 'actor.id': portal.accounts.oldPhone.oid });
    expect(audit?.after).to.include({ reason: 'user_disabled' });
    await portal.gw.fetch(`/api/identity/users/${portal.accounts.oldPhone.oid}`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer admin-all', 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: true }),
    });
  });

  it('troubleshooting and Home Screen guidance are open to everyone', async () => {
    const visitor = portal.client();
    const help = await visitor.page('/help');
    expect(pageId(help.html)).to.equal('help');
    for (const text of [
      'not installed within 8 minutes',
      'Only one downloaded profile waits at a time',
      'Another management profile is already installed',
      'Use Safari with cookies turned on',
    ]) {
      expect(help.html).to.include(text);
    }
    const home = await visitor.page('/help/home-screen');
    expect(pageId(home.html)).to.equal('home-screen');
    expect(home.html).to.include('Add to Home Screen');
  });
});

describe('company-portal: setup incomplete and sign-in not configured', function () {
  this.timeout(60_000);

  it('shows "setup incomplete" while the push certificate is missing, in the configured branding', async () => {
    const portal = await startPortalHarness('portalsetup', {
      pushTopic: null,
      plugins: {
        'company-portal': {
          organizationName: 'Fabrikam <Labs>',
          brandColor: '#ffd700',
          logoUrl: 'https://cdn.fabrikam.test/logo.png',
          supportUrl: 'https://help.fabrikam.test/',
        },
      },
    });
    try {
      const bob = await portal.signIn(portal.accounts.staff);
      const page = await bob.page('/');
      expect(pageId(page.html)).to.equal('setup-incomplete');
      expect(page.html).to.include('still setting up device enrollment');
      expect(page.html).to.include('Fabrikam &lt;Labs&gt;').and.include('https://help.fabrikam.test/');
      expect(page.html).to.include('<img src="https://cdn.fabrikam.test/logo.png" alt="Fabrikam &lt;Labs&gt; logo">');
      expect(page.headers.get('content-security-policy')).to.include("img-src 'self' https://cdn.fabrikam.test;");
      // Gold is too light for white text or links: dark text on it, and the default link colour.
      const css = /<link rel="stylesheet" href="([^"]+)">/.exec(page.html)?.[1] ?? '';
      const sheet = await (await bob.browser.request(`${PORTAL_URL}${css}`)).text();
      expect(sheet).to.include(':root{--brand:#ffd700;--on-brand:#111111;--link:#0b57a4}');
    } finally {
      await portal.stop();
    }
  });

  it('without an identity plugin every page says sign-in is not set up yet', async () => {
    const portal = await startPortalHarness('portalnoidp', { enable: ['admin-access', 'mdm', 'company-portal'] });
    try {
      const page = await portal.client().page('/');
      expect(page.status).to.equal(503);
      expect(pageId(page.html)).to.equal('signin-unavailable');
    } finally {
      await portal.stop();
    }
  });
});
