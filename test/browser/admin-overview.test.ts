/**
 * The admin center's overview in headless Chromium, over attempts made for real (the portal, the OIDC stand-in and
 * a simulated iPhone): the funnel and daily charts are drawn by Chart.js served by the gateway under the strict CSP,
 * the tables carry the same numbers, the failures list shows reasons with remediation, axe-core finds no serious
 * violation, and at tablet width nothing overflows. With UPDATE_SCREENSHOTS=1 the screenshots go to
 * docs/screenshots/ (docs/admin-center.md uses them).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { SimulatedDevice } from '../support/device-simulator.js';
import { eventually } from '../support/eventually.js';
import {
  IOS_14,
  PORTAL_URL,
  type PortalClient,
  type PortalHarness,
  startPortalHarness,
} from '../support/portal-harness.js';
import { repoRoot } from '../support/process.js';
import { accessibilityViolations, CHROMIUM, chromiumAvailable, launchChromium } from './support.js';

const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.join(repoRoot, 'docs', 'screenshots')
  : mkdtempSync(path.join(tmpdir(), 'overview-screens-'));

interface Funnel {
  steps: { step: string; count: number }[];
  failures: { reason: string; count: number }[];
}

async function download(client: PortalClient): Promise<string> {
  await client.page('/');
  const res = await client.post('/enroll/download', { csrf: await client.csrf() });
  expect(res.status).to.equal(303);
  return (res.headers.get('location') ?? '').split('/').at(-1) ?? '';
}

describe('browser: the admin overview with the enrollment funnel', function () {
  this.timeout(180_000);
  let portal: PortalHarness;
  let browser: Browser;

  before(async () => {
    if (!chromiumAvailable()) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    portal = await startPortalHarness('overview', {
      enable: [
        'admin-access',
        'identity-entra',
        'mdm',
        'enrollment-profiles',
        'jit-registration',
        'company-portal',
        'enrollment-insights',
        'admin-center',
      ],
      plugins: { 'enrollment-insights': { sweepIntervalMs: 300 } },
    });
    const { accounts } = portal;
    // Bob enrolls an iPhone to "ready for work"; Nora has no profile; Olga's iPhone is too old; Mallory downloads twice.
    const bob = await portal.signIn(accounts.staff);
    const session = await download(bob);
    const hop = await bob.browser.request(`${PORTAL_URL}/enroll/status/${session}/profile`);
    const profile = await bob.browser.request(hop.headers.get('location') ?? '');
    const phone = await SimulatedDevice.create({ baseUrl: portal.gw.url, publicUrl: PORTAL_URL, osVersion: '17.5' });
    phone.installProfileFile(Buffer.from(await profile.arrayBuffer()));
    await phone.enroll();
    await (await portal.signIn(accounts.noProfile)).page('/');
    await (await portal.signIn(accounts.oldPhone, IOS_14)).page('/');
    const mallory = await portal.signIn(accounts.other);
    await download(mallory);
    await download(mallory);
    await eventually(
      async () => {
        await phone.poll();
        const res = await portal.gw.fetch('/api/enrollment-insights/funnel', {
          headers: { authorization: 'Bearer admin-all' },
        });
        const funnel = (await res.json()) as Funnel;
        expect(funnel.steps.find((s) => s.step === 'ready')?.count).to.equal(1);
        expect(funnel.failures.reduce((sum, f) => sum + f.count, 0)).to.equal(3);
      },
      30_000,
      200,
    );
    browser = await launchChromium(1);
  });
  after(async () => {
    await browser?.close();
    await portal?.stop();
  });

  async function open(width: number, height: number): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({
      viewport: { width, height },
      extraHTTPHeaders: { authorization: 'Bearer admin-all' },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    const response = await page.goto(`${portal.gw.url}/admin`);
    expect(response?.status()).to.equal(200);
    expect(page.url()).to.equal(`${portal.gw.url}/admin/home`);
    expect(response?.headers()['content-security-policy'])
      .to.include("script-src 'self'")
      .and.include("style-src 'self'");
    await page.locator('body[data-charts="drawn"]').waitFor({ timeout: 10_000 });
    return { page, errors };
  }

  it('draws the funnel and the daily series, with the same numbers in tables, and passes axe-core', async () => {
    const { page, errors } = await open(1280, 900);
    for (const id of ['funnel-chart', 'series-chart']) {
      const box = await page.locator(`#${id}`).boundingBox();
      expect(box?.width, id).to.be.greaterThan(200);
      expect(box?.height, id).to.be.greaterThan(150);
      // Something was painted: the canvas is not blank.
      const painted = await page.evaluate<number>(`(() => {
        const canvas = document.getElementById('${id}');
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let drawn = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++;
        return drawn;
      })()`);
      expect(painted, id).to.be.greaterThan(500);
    }
    expect(await page.locator('#funnel-table tr[data-step="ready"] td').nth(1).textContent()).to.equal('1');
    expect(await page.locator('#funnel-table tr[data-step="token-updated"] td').nth(2).textContent()).to.equal('100%');
    const reasons = await page
      .locator('#failures-table tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-reason')));
    expect(reasons.sort()).to.deep.equal(['no-profile', 'os-too-old', 'user-cancelled']);
    expect(await page.locator('#failures-table').textContent()).to.include('Settings › General › Software Update');
    expect(await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href')).to.equal(
      '/api/enrollment-insights/failures.csv',
    );
    const violations = (await accessibilityViolations(page)).filter(
      (v) => v.impact === 'serious' || v.impact === 'critical',
    );
    expect(violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).to.deep.equal([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'admin-overview.png'), fullPage: true });
    expect(errors).to.deep.equal([]);
  });

  it('filters the failures by reason through the form', async () => {
    const { page } = await open(1280, 900);
    await page.getByLabel('Reason').selectOption('no-profile');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('body[data-charts="drawn"]').waitFor();
    const reasons = await page
      .locator('#failures-table tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-reason')));
    expect(reasons).to.deep.equal(['no-profile']);
    expect(await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href')).to.equal(
      '/api/enrollment-insights/failures.csv?reason=no-profile',
    );
  });

  it('fits a tablet: no sideways scrolling, charts within the screen', async () => {
    const { page, errors } = await open(768, 1024);
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).to.be.at.most(0);
    for (const id of ['funnel-chart', 'series-chart']) {
      const box = await page.locator(`#${id}`).boundingBox();
      expect(box?.width, id).to.be.greaterThan(200);
      expect((box?.x ?? 0) + (box?.width ?? 0), id).to.be.at.most(768);
    }
    await page.screenshot({ path: path.join(SCREENSHOTS, 'admin-overview-tablet.png'), fullPage: true });
    expect(errors).to.deep.equal([]);
  });
});
