/**
 * The profile form's group picker in Chromium under the strict CSP: typing part of a name searches the directory
 * (the real identity-entra asking the Graph stand-in), and picking a match adds its id to the assignment list.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { OidcStandin } from '../../../test/support/oidc-standin.js';
import { adminContext, CHROMIUM, consoleErrors, launch } from './support.js';

const SALES = 'c0000000-0000-0000-0000-00000000a1e5';

describe('admin center: group picker in Chromium', function () {
  this.timeout(90_000);
  let standin: OidcStandin;
  let gw: TestGateway;
  let browser: Browser;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    standin = await OidcStandin.start({ redirectUris: ['https://gateway.test/auth/callback'] });
    standin.directoryGroups.set(SALES, 'Sales EMEA');
    standin.directoryGroups.set(randomUUID(), 'Finance');
    gw = await startTestGateway({
      label: 'grouppick',
      enable: ['admin-access', 'identity-entra', 'enrollment-profiles', 'admin-center'],
      plugins: [testAdminTokens],
      config: {
        publicUrl: 'https://gateway.test',
        plugins: {
          'identity-entra': {
            enabled: true,
            ...standin.entraConfig(),
          },
        },
      },
    });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await standin?.stop();
  });

  it('finds "Sales EMEA" by typing "sal", adds its id, and the profile saves with it', async () => {
    const context = await adminContext(browser);
    const page = await context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${gw.url}/admin/profiles/new`);
    await page.getByLabel('Name').fill('Sales phones');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Web-based (Safari, iOS 15 and later)').check();
    await page.getByRole('button', { name: 'Next' }).click();
    const picker = page.getByLabel('Find a group to include');
    await picker.fill('sal');
    const option = page.locator(`datalist option[value="${SALES}"]`);
    await option.waitFor({ state: 'attached' });
    expect(await option.getAttribute('label')).to.equal('Sales EMEA');
    expect(await page.locator('datalist option').count()).to.equal(1);
    await picker.fill(SALES); // what choosing the datalist entry does
    expect(await page.getByLabel('Included groups', { exact: true }).inputValue()).to.equal(SALES);
    expect(await picker.inputValue()).to.equal('');
    await page.getByRole('button', { name: 'Next' }).click();
    await Promise.all([
      page.waitForURL(`${gw.url}/admin/profiles`),
      page.getByRole('button', { name: 'Create' }).click(),
    ]);
    const res = await gw.fetch('/api/enrollment-profiles', { headers: adminHeaders() });
    const { items } = (await res.json()) as { items: { name: string; assignments: { includedGroups: string[] } }[] };
    expect(items.map((p) => [p.name, p.assignments.includedGroups])).to.deep.equal([['Sales phones', [SALES]]]);
    expect(errors).to.deep.equal([]);
    await context.close();
  });
});
