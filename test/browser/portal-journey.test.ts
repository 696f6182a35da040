/**
 * The device user's journey in a real browser (headless Chromium as an iPhone with Safari's User-Agent, behind a
 * TLS proxy at https://gateway.test): sign in at the OIDC stand-in, land on Enroll, download the profile, let the
 * simulated iPhone install that exact file, watch the status page turn "ready" without a reload, then remove the
 * device from My devices. Also the iOS 14, device-limit and no-profile pages. Every page is checked with axe-core
 * and for CSP violations. With UPDATE_SCREENSHOTS=1 the screenshots go to docs/screenshots/ (README uses them).
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { SimulatedDevice } from '../support/device-simulator.js';
import { PORTAL_URL, type PortalHarness, startPortalHarness } from '../support/portal-harness.js';
import { repoRoot } from '../support/process.js';
import {
  accessibilityViolations,
  CHROMIUM,
  chromiumAvailable,
  IPHONE_IOS14,
  iphoneContext,
  launchChromium,
  startTlsProxy,
  type TlsProxy,
} from './support.js';

const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.join(repoRoot, 'docs', 'screenshots')
  : mkdtempSync(path.join(tmpdir(), 'portal-screens-'));

describe('browser: the device user journey in the Company Portal', function () {
  this.timeout(180_000);
  let portal: PortalHarness;
  let proxy: TlsProxy;
  let browser: Browser;
  const problems: string[] = [];

  before(async () => {
    if (!chromiumAvailable()) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    portal = await startPortalHarness('portalbrowser', {
      unenrollment: true,
      plugins: { unenrollment: { pollIntervalMs: 100, acknowledgementTimeoutMs: 20_000 } },
    });
    proxy = await startTlsProxy(portal.gw.url);
    browser = await launchChromium(proxy.port);
  });
  beforeEach(() => {
    problems.length = 0;
  });
  after(async () => {
    await browser?.close();
    proxy?.close();
    await portal?.stop();
  });

  /** A fresh iPhone whose console is watched for CSP violations and script errors. */
  async function phoneBrowser(userAgent?: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await iphoneContext(browser, userAgent);
    const page = await context.newPage();
    // Only the portal's pages count: the identity provider's stand-in is not under test here.
    page.on('console', (message) => {
      if (message.type() === 'error' && page.url().startsWith(PORTAL_URL)) {
        problems.push(`${page.url()}: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
    return { context, page };
  }

  /** Asserts the page is accessible and free of CSP violations, then saves its screenshot. */
  async function checkPage(page: Page, id: string, screenshot: string) {
    expect(await page.getAttribute('body', 'data-page')).to.equal(id);
    const violations = await accessibilityViolations(page);
    expect(violations, JSON.stringify(violations, null, 2)).to.deep.equal([]);
    expect(problems, problems.join('\n')).to.deep.equal([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${screenshot}.png`) });
  }

  async function signIn(page: Page, upn: string) {
    await page.goto(`${PORTAL_URL}/`);
    await page.click('a.button');
    expect(page.url().startsWith(portal.standin.origin)).to.equal(true);
    await page.fill('input[name=username]', upn);
    await Promise.all([page.waitForURL(`${PORTAL_URL}/`), page.click('button[type=submit]')]);
  }

  it('signs in, downloads the profile, follows the device to "ready" live, and removes it', async () => {
    portal.standin.autoLogin = undefined;
    const { page } = await phoneBrowser();
    await page.goto(`${PORTAL_URL}/`);
    expect(page.url()).to.equal(`${PORTAL_URL}/signin?returnTo=%2F`);
    await checkPage(page, 'signin', 'signin');

    await signIn(page, portal.accounts.staff.upn);
    await checkPage(page, 'enroll', 'enroll');
    await page.locator('#steps-heading').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'enroll-steps.png') });

    const profileTypes: string[] = [];
    page.on('response', (response) => {
      if (response.url().includes('/mdm/enroll/')) profileTypes.push(response.headers()['content-type']);
    });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button:has-text("Download management profile")'),
    ]);
    await page.waitForSelector('[data-live] [data-state]');
    expect(page.url()).to.match(/\/enroll\/status\/[0-9a-f-]{36}$/);
    expect(profileTypes).to.deep.equal(['application/x-apple-aspen-config']);
    const bytes = readFileSync((await download.path()) as string);

    // The simulator installs exactly that file: its CMS signature must verify against the profile's CA.
    const phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL, installPolls: 2 });
    const installed = phone.installProfileFile(bytes);
    expect(installed.profile.identifier).to.equal('test.gateway.enrollment');
    expect(installed.signerCertDer.length, 'a CMS-signed profile').to.be.greaterThan(0);
    await page.waitForSelector('[data-live] [data-state="install"]');
    await checkPage(page, 'status', 'status-install');

    // A marker on the window survives only if the page is never reloaded.
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 42;
    });
    let polling = true;
    const poller = (async () => {
      await phone.enroll();
      while (polling && phone.enrolled) {
        await phone.poll().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    try {
      await page.waitForSelector('[data-live] [data-state="ready"]', { timeout: 60_000 });
      expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).to.equal(42);
      // The install instructions go away once the profile is installed.
      expect(await page.isHidden('[data-while]')).to.equal(true);
      await checkPage(page, 'status', 'status-ready');

      await page.click('a:has-text("Go to My devices")');
      await checkPage(page, 'devices', 'devices');
      await page.click('ul.devices a');
      await page.waitForSelector('[data-live] [data-device-state="enrolled"]');
      await checkPage(page, 'device', 'device');
      await page.click('a:has-text("Remove device")');
      await checkPage(page, 'remove', 'remove-confirm');
      await page.click('button:has-text("Remove device")');
      await page.waitForSelector('[data-removal]');
      await page.evaluate(() => {
        (globalThis as unknown as { marker: number }).marker = 7;
      });
      await page.waitForSelector('[data-removal="completed"]', { timeout: 60_000 });
      expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).to.equal(7);
      await checkPage(page, 'device', 'device-removed');
    } finally {
      polling = false;
      await poller;
    }
    expect(phone.enrolled).to.equal(false);
    const record = await portal.gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(phone.udid);
    expect(record?.state).to.equal('retired');
  });

  it('sends iOS 14 to the Company Portal app', async () => {
    const { page } = await phoneBrowser(IPHONE_IOS14);
    await signIn(page, portal.accounts.oldPhone.upn);
    await checkPage(page, 'company-portal-app', 'fallback-ios14');
    expect(await page.getAttribute('a.button', 'href')).to.equal(
      'https://apps.apple.com/app/intune-company-portal/id719171358',
    );
  });

  it('tells a user at the device limit to remove a device first', async () => {
    const { page } = await phoneBrowser();
    await signIn(page, portal.accounts.limited.upn);
    const mint = await portal.gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: { authorization: 'Bearer admin-all', 'content-type': 'application/json' },
      body: JSON.stringify({ userId: portal.accounts.limited.oid }),
    });
    const phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL });
    await phone.downloadProfile(((await mint.json()) as { profileUrl: string }).profileUrl);
    await phone.enroll();
    await page.reload();
    await checkPage(page, 'device-limit', 'device-limit');
    expect(await page.textContent('main')).to.include('You have added the maximum number of devices');
  });

  it('tells a user without an enrollment profile to contact IT', async () => {
    const { page } = await phoneBrowser();
    await signIn(page, portal.accounts.noProfile.upn);
    await checkPage(page, 'no-profile', 'no-profile');
    expect(await page.textContent('main')).to.include('help@contoso.test');
  });

  it('offers troubleshooting and Home Screen guidance', async () => {
    const { page } = await phoneBrowser();
    await page.goto(`${PORTAL_URL}/help`);
    await checkPage(page, 'help', 'troubleshooting');
    await page.click('a:has-text("Add this portal to your Home Screen")');
    await checkPage(page, 'home-screen', 'home-screen');
  });
});
