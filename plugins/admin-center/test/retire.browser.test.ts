/**
 * Retiring a device from its page and watching the retirement advance live (server-sent events), without
 * reloading: the unenrollment plugin runs for real, with a short acknowledgement time-out because the test
 * device never answers.
 */
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { adminContext, CHROMIUM, consoleErrors, enrollDevice, launch, seriousViolations } from './support.js';

describe('admin center in Chromium: retire a device and watch its progress', function () {
  this.timeout(120_000);
  let gw: TestGateway;
  let browser: Browser;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    gw = await startTestGateway({
      label: 'adminretire',
      enable: ['admin-access', 'mdm', 'unenrollment', 'admin-center'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
      config: { plugins: { unenrollment: { acknowledgementTimeoutMs: 6_000, pollIntervalMs: 200 } } },
    });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('retires from the device page and shows the final state live', async () => {
    // Enrolled for real, then out of reach: it answers nothing, so the retirement ends device-unreachable.
    const { deviceId } = await enrollDevice(gw, { userId: 'user-9', deviceName: 'Leaving iPhone', report: true });
    const context = await adminContext(browser);
    const page = await context.newPage();
    const errors = consoleErrors(page);
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${gw.url}/admin/devices/${deviceId}`);
    await page.getByRole('button', { name: 'Retire' }).click();
    const heading = page.locator('#live h2', { hasText: 'Retirement:' });
    await heading.waitFor();
    expect(await heading.textContent()).to.equal('Retirement: in-progress');
    expect(await seriousViolations(page)).to.deep.equal([]);
    // Mark this document: the final state must arrive by the event stream, not by a reload.
    await page.evaluate(() => {
      (globalThis as unknown as { stillHere: boolean }).stillHere = true;
    });
    await page.locator('#live h2', { hasText: 'Retirement: device-unreachable' }).waitFor({ timeout: 60_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { stillHere?: boolean }).stillHere)).to.equal(true);
    expect(await page.locator('#live-status').textContent()).to.match(/Retirement|:/);
    const res = await gw.fetch(`/api/unenrollment/devices/${deviceId}`, { headers: adminHeaders() });
    expect(((await res.json()) as { state: string }).state).to.equal('device-unreachable');
    await context.close();
    expect(errors).to.deep.equal([]);
  });
});
