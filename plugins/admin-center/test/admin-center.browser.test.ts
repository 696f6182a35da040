/**
 * The admin center in headless Chromium: the profile wizard end to end (inline API errors, one profile
 * for a double submit), drag-and-drop and keyboard reordering checked through the API, a stale edit
 * answered 409 and shown, and axe-core on every page with no serious or critical violation.
 */
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import type { Browser, BrowserContext } from 'playwright-core';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import {
  adminContext,
  apnsStandin,
  CHROMIUM,
  consoleErrors,
  createProfile,
  enrollDevice,
  launch,
  listProfiles,
  seriousViolations,
} from './support.js';

describe('admin center in Chromium', function () {
  this.timeout(120_000);
  let gw: TestGateway;
  let browser: Browser;
  let context: BrowserContext;
  let apns: Awaited<ReturnType<typeof apnsStandin>> | undefined;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    apns = await apnsStandin();
    gw = await startTestGateway({
      label: 'admincenter',
      enable: ['admin-access', 'enrollment-profiles', 'mdm', 'apns', 'jit-registration', 'admin-center'],
      plugins: [testAdminTokens],
      config: { plugins: { apns: apns.config } },
    });
    await apns.installCertificate(gw);
    browser = await launch();
  });
  beforeEach(async () => {
    context = await adminContext(browser);
  });
  afterEach(async () => {
    await context?.close();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await apns?.close();
  });

  async function clearProfiles() {
    for (const profile of (await listProfiles(gw)).items) {
      const res = await gw.fetch(`/api/enrollment-profiles/${profile.id}`, {
        method: 'DELETE',
        headers: adminHeaders(),
      });
      expect(res.status).to.equal(204);
    }
  }

  it('creates a profile with the wizard: Basics → Settings → Assignments → Review + create', async () => {
    await clearProfiles();
    const page = await context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${gw.url}/admin/profiles/new`);
    await page.getByRole('button', { name: 'Next' }).click();
    // The browser keeps the admin on Basics while the required name is empty.
    expect(await page.locator('fieldset[data-step="1"]').isVisible()).to.equal(true);
    await page.getByLabel('Name').fill('Staff iPhones');
    await page.getByLabel('Description').fill('Everyone <script>alert(1)</script>');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Web-based (Safari, iOS 15 and later)').check();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    expect(await page.locator('[data-review="name"]').textContent()).to.equal('Staff iPhones');
    // No assignment yet: the API refuses, and the wizard goes back to the step with the field in error.
    await page.getByRole('button', { name: 'Create' }).click();
    const assignmentError = page.locator('[data-error-for="assignments"]');
    await assignmentError.waitFor({ state: 'visible' });
    expect(await assignmentError.textContent()).to.include('assign the profile to all users or to at least one group');
    expect(await page.locator('fieldset[data-step="3"]').isVisible()).to.equal(true);
    expect((await listProfiles(gw)).items).to.have.length(0);

    await page.getByLabel('All users').check();
    await page.getByRole('button', { name: 'Next' }).click();
    // A double click sends once (the button is disabled in flight) and the Idempotency-Key dedupes any retry.
    await Promise.all([
      page.waitForURL(`${gw.url}/admin/profiles`),
      page.getByRole('button', { name: 'Create' }).dblclick(),
    ]);
    const { items } = await listProfiles(gw);
    expect(items.map((p) => p.name)).to.deep.equal(['Staff iPhones']);
    expect(await page.getByRole('link', { name: 'Staff iPhones' }).count()).to.equal(1);
    // The only failed load is the API's expected 400 for the missing assignment.
    expect(errors).to.deep.equal(['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  });

  it('repeats the first answer for a repeated Idempotency-Key instead of creating twice', async () => {
    await clearProfiles();
    const send = () =>
      gw.fetch('/api/enrollment-profiles', {
        method: 'POST',
        headers: { ...adminHeaders(), 'idempotency-key': 'wizard-0123456789' },
        body: JSON.stringify({ name: 'Once', enrollmentType: 'web-based', assignments: { allUsers: true } }),
      });
    const first = await send();
    const second = await send();
    expect(first.status).to.equal(201);
    expect(second.status).to.equal(201);
    expect(second.headers.get('idempotent-replayed')).to.equal('true');
    expect(((await second.json()) as { id: string }).id).to.equal(((await first.json()) as { id: string }).id);
    expect((await listProfiles(gw)).items).to.have.length(1);
  });

  it('reorders by drag and drop and by keyboard; the API shows the new priorities; a stale page is told', async () => {
    await clearProfiles();
    const [a, b, c] = [
      await createProfile(gw, 'Alpha'),
      await createProfile(gw, 'Bravo'),
      await createProfile(gw, 'Charlie'),
    ];
    const page = await context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${gw.url}/admin/profiles`);
    const status = page.locator('#order-status');

    await page.dragAndDrop(`li[data-id="${c.id}"] .handle`, `li[data-id="${a.id}"]`, {
      targetPosition: { x: 10, y: 2 },
    });
    await status.filter({ hasText: 'Charlie now has priority 1. Saved.' }).waitFor();
    expect((await listProfiles(gw)).items.map((p) => p.id)).to.deep.equal([c.id, a.id, b.id]);

    await page.locator(`li[data-id="${b.id}"] .handle`).focus();
    await page.keyboard.press('Alt+ArrowUp');
    await status.filter({ hasText: 'Bravo now has priority 2. Saved.' }).waitFor();
    expect((await listProfiles(gw)).items.map((p) => [p.name, p.priority])).to.deep.equal([
      ['Charlie', 1],
      ['Bravo', 2],
      ['Alpha', 3],
    ]);

    await page.getByRole('button', { name: 'Move down Charlie' }).click();
    await status.filter({ hasText: 'Charlie now has priority 2. Saved.' }).waitFor();

    // Someone else reorders: this page's order version is stale, so its next move is refused and rolled back.
    const current = await listProfiles(gw);
    const res = await gw.fetch('/api/enrollment-profiles/order', {
      method: 'PUT',
      headers: adminHeaders(),
      body: JSON.stringify({ order: [a.id, b.id, c.id], version: current.version }),
    });
    expect(res.status).to.equal(200);
    await page.getByRole('button', { name: 'Move up Alpha' }).click();
    await status.filter({ hasText: 'someone else changed the order' }).waitFor();
    expect((await listProfiles(gw)).items.map((p) => p.id)).to.deep.equal([a.id, b.id, c.id]);
    expect(errors).to.deep.equal(['Failed to load resource: the server responded with a status of 409 (Conflict)']);
  });

  it('shows a stale edit as 409 and saves nothing over the newer version', async () => {
    await clearProfiles();
    const profile = await createProfile(gw, 'Contractors');
    const page = await context.newPage();
    await page.goto(`${gw.url}/admin/profiles/${profile.id}`);
    const res = await gw.fetch(`/api/enrollment-profiles/${profile.id}`, {
      method: 'PATCH',
      headers: { ...adminHeaders(), 'if-match': `"${profile.version}"` },
      body: JSON.stringify({ description: 'changed elsewhere' }),
    });
    expect(res.status).to.equal(200);
    await page.getByLabel('Name').fill('Contractors (edited)');
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.locator('form[data-method="PATCH"] [data-form-alert]');
    await alert.filter({ hasText: 'Someone changed this since you opened the page' }).waitFor();
    const saved = (await listProfiles(gw)).items[0];
    expect(saved.name).to.equal('Contractors');
  });

  it('passes axe-core on every page with no serious or critical violation, under the strict CSP', async () => {
    await clearProfiles();
    const profile = await createProfile(gw, 'Everyone');
    // Enrolled for real and answering: its name, profiles, apps and command history are on the device page.
    const { deviceId } = await enrollDevice(gw, {
      userId: 'user-1',
      deviceName: 'Bob’s iPhone',
      osVersion: '17.5',
      report: true,
    });
    const pages = [
      '/admin/setup',
      '/admin/profiles',
      '/admin/profiles/new',
      `/admin/profiles/${profile.id}`,
      '/admin/devices',
      `/admin/devices/${deviceId}`,
      '/admin/users',
      '/admin/users/user-1',
      '/admin/push-certificate',
      '/admin/policies',
      '/admin/enroll',
      '/admin/audit',
    ];
    const failures: string[] = [];
    for (const path of pages) {
      const page = await context.newPage();
      const errors = consoleErrors(page);
      const response = await page.goto(`${gw.url}${path}`);
      expect(response?.status(), path).to.equal(200);
      expect(response?.headers()['content-security-policy'], path).to.include("script-src 'self'");
      for (const violation of await seriousViolations(page)) failures.push(`${path}: ${violation}`);
      // The device page holds an event stream open: close it before the check ends.
      await page.close();
      for (const error of errors) failures.push(`${path}: console: ${error}`);
    }
    expect(failures).to.deep.equal([]);
  });

  it('filters devices by OS version and state, and opens the device page with its details', async () => {
    const page = await context.newPage();
    await enrollDevice(gw, { userId: 'user-2', deviceName: 'Old iPad', osVersion: '16.7', report: true });
    await page.goto(`${gw.url}/admin/devices`);
    await page.getByLabel('OS version').fill('16');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/osVersion=16/);
    const rows = page.locator('table.list tbody tr');
    expect(await rows.count()).to.equal(1);
    await page.getByRole('link', { name: 'Old iPad' }).click();
    expect(await page.locator('h1').textContent()).to.equal('Old iPad');
    expect(await page.locator('dl.details').textContent()).to.include('16.7');
  });
});
