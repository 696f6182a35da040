/**
 * The Policies page in headless Chromium, over the real jit-registration and web-clip APIs: an edit saved
 * once for a double click, the API's validation errors next to their fields, a stale edit answered 409 and
 * explained with a reload link, and axe-core with no serious or critical violation.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { consoleErrors, seriousViolations, useAdminBrowser } from './support.js';

type Json = Record<string, unknown> & { version: number };

describe('admin center: the Policies page in Chromium', function () {
  this.timeout(120_000);
  const rig = useAdminBrowser({
    label: 'adminpolicies',
    enable: ['admin-access', 'mdm', 'apns', 'jit-registration', 'company-portal', 'web-clip', 'admin-center'],
    plugins: [testAdminTokens],
  });

  const read = async (path: string): Promise<Json> => {
    const res = await rig.gw.fetch(path, { headers: adminHeaders() });
    expect(res.status).to.equal(200);
    return (await res.json()) as Json;
  };
  const ssoPolicy = () => read('/api/jit/sso-policy');
  const webClip = () => read('/api/web-clip/settings');
  const audited = (action: string) =>
    rig.gw.gateway.context('admin-center').mongo.collection('audit_log').countDocuments({ action });
  /** PUTs the admin's form would send, seen from the browser's side. */
  const writesOf = (page: Page, path: string) => {
    const seen: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'PUT' && new URL(request.url()).pathname === path) seen.push(request.url());
    });
    return seen;
  };

  it('saves the web clip settings from the form, once for a double click', async () => {
    const page = await rig.context.newPage();
    const errors = consoleErrors(page);
    const writes = writesOf(page, '/api/web-clip/settings');
    await page.goto(`${rig.gw.url}/admin/policies`);
    const form = page.locator('#web-clip-form');
    expect(await form.getByLabel('Name under the icon').inputValue()).to.equal('Company Portal');
    await form.getByLabel('Name under the icon').fill('Contoso Portal');
    await form.getByLabel('Users may remove the icon from the Home Screen').uncheck();
    await form.getByLabel('Open as a full-screen web app').check();
    // The button is disabled while the save is in flight, so the second click sends nothing.
    await Promise.all([
      page.waitForEvent('load'),
      form.getByRole('button', { name: 'Save web clip settings' }).dblclick(),
    ]);
    await page.getByText('Version 1, saved by test-admin').waitFor();
    expect(writes).to.have.length(1);
    expect(await webClip()).to.include({ label: 'Contoso Portal', isRemovable: false, fullScreen: true, version: 1 });
    expect(await audited('webClip.settings.update')).to.equal(1);
    // The reloaded form shows what was saved, ready for the next edit with the new version.
    expect(await form.getByLabel('Name under the icon').inputValue()).to.equal('Contoso Portal');
    expect(await form.getAttribute('data-if-match')).to.equal('1');
    expect(errors).to.deep.equal([]);
  });

  it('shows the API’s validation errors next to their fields and saves nothing', async () => {
    const [ssoBefore, clipBefore] = [await ssoPolicy(), await webClip()];
    const page = await rig.context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${rig.gw.url}/admin/policies`);

    const sso = page.locator('#sso-policy-form');
    await sso.getByLabel('Sign-in URLs').fill('https://login.microsoftonline.com\nhttp://login.contoso.com');
    await sso.getByLabel('App prefix allow list').fill('com.apple., com.contoso.');
    await sso.getByRole('button', { name: 'Save SSO policy' }).click();
    const prefixError = sso.locator('[data-error-for="appPrefixAllowList"]');
    await prefixError.filter({ hasText: 'comma-separated bundle-id prefixes without spaces' }).waitFor();
    expect(await sso.locator('[data-error-for="urls"]').textContent()).to.equal('must be an https URL');
    expect(await sso.getByLabel('App prefix allow list').getAttribute('aria-invalid')).to.equal('true');
    expect(await sso.getByLabel('Sign-in URLs').getAttribute('aria-invalid')).to.equal('true');
    expect(await sso.locator('[data-form-alert]').textContent()).to.equal('Some fields need your attention.');
    // Screen readers get the message with the field: it is wired by aria-describedby.
    const describedBy = (await sso.getByLabel('App prefix allow list').getAttribute('aria-describedby')) ?? '';
    expect(describedBy.split(' ')).to.include(await prefixError.getAttribute('id'));
    expect(await seriousViolations(page)).to.deep.equal([]);

    const clip = page.locator('#web-clip-form');
    await clip.getByLabel('Address the icon opens (optional)').fill('http://portal.contoso.com');
    await clip.getByLabel('Name under the icon').fill('   ');
    await clip.getByRole('button', { name: 'Save web clip settings' }).click();
    await clip.locator('[data-error-for="url"]').filter({ hasText: 'must be an https URL' }).waitFor();
    expect(await clip.locator('[data-error-for="label"]').textContent()).to.equal(
      'enter the name shown under the icon',
    );
    // The SSO form keeps its own errors: each form shows only what its API said.
    expect(await prefixError.textContent()).to.include('without spaces');

    expect((await ssoPolicy()).version).to.equal(ssoBefore.version);
    expect(await webClip()).to.deep.equal(clipBefore);
    expect(errors).to.deep.equal([
      'Failed to load resource: the server responded with a status of 400 (Bad Request)',
      'Failed to load resource: the server responded with a status of 400 (Bad Request)',
    ]);
  });

  it('tells the admin when someone else saved first (409), with a link that reloads the latest version', async () => {
    const page = await rig.context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${rig.gw.url}/admin/policies`);
    const form = page.locator('#sso-policy-form');
    const pageVersion = Number(await form.getAttribute('data-if-match'));

    // Another admin saves while this page is open.
    const { version: _v, updatedBy: _b, updatedAt: _a, ...policy } = await ssoPolicy();
    const elsewhere = await rig.gw.fetch('/api/jit/sso-policy', {
      method: 'PUT',
      headers: { ...adminHeaders(), 'if-match': `"${pageVersion}"` },
      body: JSON.stringify({ ...policy, appPrefixAllowList: 'com.apple.,com.fabrikam.' }),
    });
    expect(elsewhere.status).to.equal(200);

    await form.getByLabel('App prefix allow list').fill('com.apple.,com.contoso.');
    await form.getByRole('button', { name: 'Save SSO policy' }).click();
    const alert = form.locator('[data-form-alert]');
    await alert.filter({ hasText: 'Someone changed this since you opened the page' }).waitFor();
    expect(await alert.textContent()).to.include('nothing was saved');
    expect(await form.getByRole('button', { name: 'Save SSO policy' }).isEnabled()).to.equal(true);
    expect(await ssoPolicy()).to.include({ appPrefixAllowList: 'com.apple.,com.fabrikam.', version: pageVersion + 1 });
    expect(await seriousViolations(page)).to.deep.equal([]);

    // The link reloads the page with the other admin's version; the edit then saves over it.
    await Promise.all([page.waitForEvent('load'), alert.getByRole('link', { name: 'Reload the page' }).click()]);
    expect(await form.getByLabel('App prefix allow list').inputValue()).to.equal('com.apple.,com.fabrikam.');
    expect(await form.getAttribute('data-if-match')).to.equal(String(pageVersion + 1));
    await form.getByLabel('App prefix allow list').fill('com.apple.,com.contoso.');
    await Promise.all([page.waitForEvent('load'), form.getByRole('button', { name: 'Save SSO policy' }).click()]);
    await page.getByText(`Version ${pageVersion + 2}, saved by test-admin`).waitFor();
    expect(await ssoPolicy()).to.include({ appPrefixAllowList: 'com.apple.,com.contoso.', version: pageVersion + 2 });
    expect(errors).to.deep.equal(['Failed to load resource: the server responded with a status of 409 (Conflict)']);
  });

  it('passes axe-core with both forms under the strict CSP', async () => {
    const page = await rig.context.newPage();
    const errors = consoleErrors(page);
    const response = await page.goto(`${rig.gw.url}/admin/policies`);
    expect(response?.status()).to.equal(200);
    expect(response?.headers()['content-security-policy']).to.include("script-src 'self'");
    expect(await page.locator('form[data-api]').count()).to.equal(2);
    expect(await seriousViolations(page)).to.deep.equal([]);
    expect(errors).to.deep.equal([]);
  });
});
