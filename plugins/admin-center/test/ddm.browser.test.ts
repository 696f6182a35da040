/**
 * The Declarative management page and the device page's DDM section in headless Chromium over the real ddm API:
 * the navigation entry opens the settings form, an OS update policy saves (versioned), a wrong value shows next
 * to its field, the device page lists the device's declarations with what it reported, and axe-core finds no
 * serious or critical violation.
 */
import { expect } from 'chai';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { consoleErrors, enrollDevice, seriousViolations, useAdminBrowser } from './support.js';

describe('admin center: declarative management in Chromium', function () {
  this.timeout(120_000);
  const rig = useAdminBrowser({
    label: 'adminddm',
    enable: ['admin-access', 'mdm', 'ddm', 'admin-center'],
    plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
  });

  it('saves an OS update policy from the page, and refuses a wrong one next to its field', async () => {
    const page = await rig.context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${rig.gw.url}/admin/devices`);
    await page.getByRole('link', { name: 'Declarative management' }).click();
    await page.waitForURL(`${rig.gw.url}/admin/ddm`);
    const form = page.locator('#ddm-settings-form');
    const policies = form.getByLabel('OS update policies');
    await policies.fill(
      '[{ "id": "ios-18", "targetOSVersion": "18", "deadline": "2030-01-15T09:00:00", "assignment": { "allDevices": true } }]',
    );
    await form.getByRole('button', { name: 'Save declarative management settings' }).click();
    await page
      .locator('[data-error-for="osUpdates"], [data-form-alert]')
      .filter({ hasText: /OS version/ })
      .first()
      .waitFor();
    await policies.fill(
      '[{ "id": "ios-18", "targetOSVersion": "18.1", "deadline": "2030-01-15T09:00:00", "assignment": { "allDevices": true } }]',
    );
    await Promise.all([
      page.waitForEvent('load'),
      form.getByRole('button', { name: 'Save declarative management settings' }).click(),
    ]);
    await page.getByText('Version 1, saved by test-admin').waitFor();
    const saved = (await (await rig.gw.fetch('/api/ddm/settings', { headers: adminHeaders() })).json()) as {
      osUpdates: { targetOSVersion: string }[];
    };
    expect(saved.osUpdates.map((p) => p.targetOSVersion)).to.deep.equal(['18.1']);
    expect(await seriousViolations(page)).to.deep.equal([]);
    // The refused save is the one failed request.
    expect(errors).to.deep.equal(['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });

  it("the device page lists the device's declarations, what it reported, and the pending OS update", async () => {
    const { deviceId, device } = await enrollDevice(rig.gw, { userId: 'alice', osVersion: '17.4' });
    await eventsDelivered(rig.gw.gateway);
    const ddm = SimulatedDdm.attach(device, { rejectTypes: ['com.apple.configuration.passcode.settings'] });
    await device.poll();
    expect(ddm.itemSyncs).to.equal(1);
    const page = await rig.context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${rig.gw.url}/admin/devices/${deviceId}`);
    const section = page.locator('[data-ddm]');
    await section.getByRole('heading', { name: 'Declarative management' }).waitFor();
    expect(await section.getByText('gateway.ddm.os-update').count()).to.equal(1);
    expect(await section.locator('[data-ddm-update]').textContent()).to.match(
      /iOS 18\.1 by 2030-01-15 09:00:00 — downloading/,
    );
    expect(await section.getByText('device.operating-system.version').count()).to.equal(1);
    expect(await seriousViolations(page)).to.deep.equal([]);
    expect(errors).to.deep.equal([]);
  });
});
