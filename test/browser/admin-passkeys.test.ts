/**
 * Local admins with passkeys in Chromium, with the DevTools virtual authenticator (a platform authenticator with
 * resident keys and user verification): the invite link registers a passkey, the header shows the admin, sign-out
 * leads to the sign-in page, and the passkey signs in again; the strict CSP holds (no console errors). The gateway
 * runs on http://localhost, a secure context for WebAuthn, so no certificate is involved.
 */
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { type Browser, chromium, type Page } from 'playwright-core';
import { freePort } from '../../scripts/lib/local-services.js';
import { adminHeaders, testAdminTokens } from '../support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const CHROMIUM = '/usr/bin/chromium';

/** Adds the DevTools virtual authenticator to the page's browser context; answers its id. */
async function addVirtualAuthenticator(page: Page): Promise<string> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return authenticatorId;
}

describe('admin passkeys in Chromium (virtual authenticator)', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  let browser: Browser;
  let origin: string;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`browser tests need Chromium at ${CHROMIUM}`);
    const port = await freePort();
    origin = `http://localhost:${port}`;
    gw = await startTestGateway({
      label: 'passkeysui',
      enable: ['admin-access', 'admin-passkeys', 'admin-center'],
      plugins: [testAdminTokens],
      config: { publicUrl: origin, http: { port } },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('registers from the invite link, shows the admin, signs out, and signs in again with the passkey', async () => {
    const res = await gw.fetch('/api/admins/invites', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ email: 'lin@example.test', role: 'full' }),
    });
    expect(res.status).to.equal(201);
    const { link } = (await res.json()) as { link: string };
    expect(link.startsWith(`${origin}/admin-auth/invite/`)).to.equal(true);

    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await addVirtualAuthenticator(page);

    // Anonymous: /admin leads to the passkey sign-in page (the only method here), not to a 401.
    const anonymous = await page.goto(`${origin}/admin/devices`);
    expect(anonymous?.status()).to.equal(200);
    expect(page.url()).to.equal(`${origin}/admin-auth/sign-in?returnTo=%2Fadmin%2Fdevices`);

    await page.goto(link);
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/admin/') && !url.pathname.startsWith('/admin-auth'));
    // This gateway runs no enrollment-profiles plugin, so /admin's setup checklist has nothing to show (404).
    await page.waitForLoadState('load');
    await page.goto(`${origin}/admin/administrators`);
    errors.length = 0;
    expect(await page.locator('[data-signed-in-as]').textContent()).to.equal('lin@example.test');
    expect(await page.locator('table.list').textContent()).to.include('lin@example.test');

    // The Administrators page creates an invite and shows its link once.
    await page.getByLabel('Email').fill('sam@example.test');
    await page.getByRole('button', { name: 'Create invite link' }).click();
    await page.locator('output[data-result]').filter({ hasText: '/admin-auth/invite/' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${origin}/admin-auth/sign-in?signedOut=1`);
    expect(await page.getByRole('status').first().textContent()).to.include('signed out');
    expect((await page.goto(`${origin}/api/admins`))?.status()).to.equal(401);
    expect(errors).to.deep.equal(['Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    errors.length = 0;

    await page.goto(`${origin}/admin/administrators`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${origin}/admin/administrators`);
    expect(await page.locator('[data-signed-in-as]').textContent()).to.equal('lin@example.test');
    expect(errors).to.deep.equal([]);
    await context.close();
  });
});
