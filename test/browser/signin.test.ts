/**
 * A real browser (headless Chromium, iPhone viewport and Safari user agent) signs in at the OIDC
 * stand-in and lands on the gateway. The gateway sits behind a small TLS proxy for https://gateway.test
 * (as in production), which Chromium reaches through --host-resolver-rules.
 */
import { expect } from 'chai';
import { type IdentityFixture, startIdentityFixture } from '../../plugins/identity-entra/test/support.js';
import { CHROMIUM, chromiumAvailable, iphoneContext, launchChromium, startTlsProxy, type TlsProxy } from './support.js';

describe('browser: sign in with Entra (stand-in) on an iPhone-sized Chromium', function () {
  this.timeout(90_000);
  let fx: IdentityFixture;
  let proxy: TlsProxy;
  before(async () => {
    if (!chromiumAvailable()) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    fx = await startIdentityFixture('idbrowser');
    proxy = await startTlsProxy(fx.gw.url);
  });
  after(async () => {
    proxy?.close();
    await fx?.stop();
  });

  it('submits the provider login form and lands on /auth/me signed in', async () => {
    fx.standin.autoLogin = undefined;
    const browser = await launchChromium(proxy.port);
    try {
      const context = await iphoneContext(browser);
      const page = await context.newPage();
      await page.goto('https://gateway.test/auth/signin?returnTo=/auth/me');
      expect(page.url().startsWith(fx.standin.origin)).to.equal(true);
      await page.fill('input[name=username]', fx.accounts.user.upn);
      await Promise.all([page.waitForURL('https://gateway.test/auth/me'), page.click('button[type=submit]')]);
      const me = JSON.parse((await page.textContent('body')) ?? '{}') as { upn: string; isAdmin: boolean };
      expect(me.upn).to.equal('bob@contoso.test');
      expect(me.isAdmin).to.equal(false);
      // A real browser accepts the __Host- cookie only with Secure, Path=/ and no Domain.
      const [cookie] = (await context.cookies('https://gateway.test')).filter((c) => c.name === '__Host-gw_session');
      expect(cookie).to.include({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/', domain: 'gateway.test' });
    } finally {
      await browser.close();
    }
  });

  it('shows Safari a 403 page (never 401) when the provider sends a token that is refused', async () => {
    fx.standin.autoLogin = fx.accounts.user.oid;
    fx.standin.nextIdTokenMutation = (claims) => ({ claims: { ...claims, iat: 1_000, nbf: 1_000, exp: 2_000 } });
    const browser = await launchChromium(proxy.port);
    try {
      const page = await (await iphoneContext(browser)).newPage();
      const [callback] = await Promise.all([
        page.waitForResponse((r) => r.url().startsWith('https://gateway.test/auth/callback')),
        page.goto('https://gateway.test/auth/signin?returnTo=/auth/me'),
      ]);
      expect(callback.status()).to.equal(403);
      expect(await page.textContent('h1')).to.equal('Sign-in refused');
      expect(await page.textContent('body')).to.include('The token has expired.');
    } finally {
      await browser.close();
    }
  });

  it('refuses a return address with a real CR/LF in it, and one that resolves to "//host"', async () => {
    const browser = await launchChromium(proxy.port);
    try {
      const page = await (await iphoneContext(browser)).newPage();
      for (const returnTo of ['/%0d%0aLocation:%20https://evil.example', '/.//evil.example', '/%2e//evil.example']) {
        const res = await page.goto(`https://gateway.test/auth/signin?returnTo=${returnTo}`);
        expect(res?.status(), returnTo).to.equal(400);
        expect(page.url(), returnTo).to.match(/^https:\/\/gateway\.test\/auth\/signin/);
        expect(await page.textContent('h1')).to.equal('Return address refused');
      }
    } finally {
      await browser.close();
    }
  });
});
