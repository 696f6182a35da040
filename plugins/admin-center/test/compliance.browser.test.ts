/**
 * The Compliance page in headless Chromium over the real compliance API: the navigation entry opens a page (not
 * raw JSON), the minimum OS form saves (an emptied field clears the minimum), the API's validation error shows
 * next to its field, and axe-core finds no serious or critical violation.
 */
import { expect } from 'chai';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { consoleErrors, seriousViolations, useAdminBrowser } from './support.js';

describe('admin center: the Compliance page in Chromium', function () {
  this.timeout(120_000);
  const rig = useAdminBrowser({
    label: 'admincompliance',
    enable: ['admin-access', 'mdm', 'compliance', 'admin-center'],
    plugins: [testAdminTokens],
  });

  const policy = async () => {
    const res = await rig.gw.fetch('/api/compliance/policy', { headers: adminHeaders() });
    expect(res.status).to.equal(200);
    return (await res.json()) as Record<string, unknown>;
  };

  it('the navigation entry opens the page, and the form saves the minimum OS versions', async () => {
    const page = await rig.context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${rig.gw.url}/admin/devices`);
    await page.getByRole('link', { name: 'Compliance' }).click();
    await page.waitForURL(`${rig.gw.url}/admin/compliance`);
    await page.getByRole('heading', { name: 'Minimum OS version' }).waitFor();
    expect(await page.getByText('No device is below the minimum.').count()).to.equal(1);

    const form = page.locator('#compliance-policy-form');
    await form.getByLabel('Minimum iOS version').fill('17.5');
    await form.getByLabel('Refuse to enroll devices below the minimum').check();
    await Promise.all([
      page.waitForEvent('load'),
      form.getByRole('button', { name: 'Save compliance policy' }).click(),
    ]);
    await page.getByText('Version 1, saved by test-admin').waitFor();
    expect(await policy()).to.include({
      minimumIosVersion: '17.5',
      minimumIpadosVersion: null,
      blockEnrollmentWhenNonCompliant: true,
      version: 1,
    });

    // Emptying the field clears the minimum (null), rather than leaving the old value.
    await form.getByLabel('Minimum iOS version').fill('');
    await Promise.all([
      page.waitForEvent('load'),
      form.getByRole('button', { name: 'Save compliance policy' }).click(),
    ]);
    await page.getByText('Version 2, saved by test-admin').waitFor();
    expect(await policy()).to.include({ minimumIosVersion: null, version: 2 });
    expect(await seriousViolations(page)).to.deep.equal([]);
    expect(errors).to.deep.equal([]);
  });

  it("shows the API's refusal of a bad version next to the field and saves nothing", async () => {
    const before = await policy();
    const page = await rig.context.newPage();
    await page.goto(`${rig.gw.url}/admin/compliance`);
    const form = page.locator('#compliance-policy-form');
    await form.getByLabel('Minimum iPadOS version').fill('seventeen');
    await form.getByRole('button', { name: 'Save compliance policy' }).click();
    await form.locator('[data-error-for="minimumIpadosVersion"]').filter({ hasText: /./ }).waitFor();
    expect(await policy()).to.deep.equal(before);
  });
});
