/**
 * Account-driven enrollment with a real browser as Settings' web view (headless Chromium behind the TLS proxy at
 * https://gateway.test): the simulated iPhone discovers the gateway, gets the 401 apple-as-web challenge, Chromium
 * opens its url and the user signs in at the OIDC stand-in, the gateway hands back the access token through the
 * apple-remotemanagement-user-login:// redirect, the device fetches its User Enrollment profile, enrolls by
 * EnrollmentID and becomes "ready for work"; the same browser then finds it in My devices and removes it.
 */
import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import type { Browser, Page } from 'playwright-core';
import { startAccountHarness } from '../../plugins/account-enrollment/test/support.js';
import { AccountDrivenDevice, CALLBACK_PREFIX } from '../support/device-simulator-adde.js';
import { PORTAL_URL, type PortalHarness } from '../support/portal-harness.js';
import {
  accessibilityViolations,
  CHROMIUM,
  chromiumAvailable,
  iphoneContext,
  launchChromium,
  startTlsProxy,
  type TlsProxy,
} from './support.js';

/** Navigates like ASWebAuthenticationSession: resolves with the callback URL the sign-in redirects to. */
function callbackOf(page: Page): Promise<string> {
  return new Promise((resolve) => {
    page.on('response', (response) => {
      const location = response.headers().location;
      if (location?.startsWith(CALLBACK_PREFIX)) resolve(location);
    });
  });
}

describe('browser: account-driven enrollment from Settings, signed in on the web', function () {
  this.timeout(180_000);
  let portal: PortalHarness;
  let ada: { oid: string; upn: string };
  let proxy: TlsProxy;
  let browser: Browser;

  before(async () => {
    if (!chromiumAvailable()) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    ({ portal, ada } = await startAccountHarness('addebrowser'));
    proxy = await startTlsProxy(portal.gw.url);
    browser = await launchChromium(proxy.port);
  });
  after(async () => {
    await browser?.close();
    proxy?.close();
    await portal?.stop();
  });

  it('discovers, signs in at the stand-in, enrolls as User Enrollment, shows the device ready, and removes it', async () => {
    portal.standin.autoLogin = undefined;
    const context = await iphoneContext(browser);
    const page = await context.newPage();
    const device = await AccountDrivenDevice.create({
      baseUrl: portal.gw.url,
      publicUrl: PORTAL_URL,
      userIdentifier: ada.upn,
      async webAuthenticate(url) {
        const callback = callbackOf(page);
        await page.goto(url);
        expect(page.url().startsWith(portal.standin.origin), 'the sign-in of the portal').to.equal(true);
        await page.fill('input[name=username]', ada.upn);
        await page.click('button[type=submit]').catch(() => undefined);
        return callback;
      },
    });
    await device.enroll();
    expect(device.accessToken).to.match(/^[A-Za-z0-9_-]{43}$/);
    const enrollmentId = (device.device.deviceKeys as { EnrollmentID: string }).EnrollmentID;
    const record = await portal.gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(enrollmentId);
    expect(record?.userEnrollment).to.equal(true);
    expect(record?.userId).to.equal(ada.oid);

    let polling = true;
    const poller = (async () => {
      while (polling && device.device.enrolled) {
        await device.device.poll().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    try {
      // Settings' sign-in sheet shares Safari's cookies: a Safari tab (a new page of the same context) holds the
      // portal session from the sign-in. (The sheet's own page, whose last navigation was the custom-scheme
      // callback, did not follow a link click in Chromium 156; a fresh tab does.) My devices shows the phone ready.
      const safari = await context.newPage();
      await safari.goto(`${PORTAL_URL}/devices`);
      expect(await safari.getAttribute('body', 'data-page')).to.equal('devices');
      for (let i = 0; i < 120 && !(await safari.textContent('main'))?.includes('Ready for work'); i++) {
        await safari.waitForTimeout(500);
        await safari.reload();
      }
      expect(await safari.textContent('main')).to.include('Ready for work');
      expect(await accessibilityViolations(safari)).to.deep.equal([]);
      await safari.click('ul.devices a');
      await safari.waitForSelector('[data-live] [data-device-state="enrolled"]');
      await safari.click('a:has-text("Remove device")');
      await safari.click('button:has-text("Remove device")');
      await safari.waitForSelector('[data-removal="completed"]', { timeout: 60_000 });
    } finally {
      polling = false;
      await poller;
    }
    expect(device.device.enrolled).to.equal(false);
    const after = await portal.gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(enrollmentId);
    expect(after?.state).to.equal('retired');
    await context.close();
  });
});
