/**
 * A real browser (headless Chromium, iPhone viewport and Safari user agent) signs in at the OIDC
 * stand-in and lands on the gateway. The gateway sits behind a small TLS proxy for https://gateway.test
 * (as in production), which Chromium reaches through --host-resolver-rules.
 */
import { expect } from 'chai';
import { type IdentityFixture, startIdentityFixture } from '../../plugins/identity-entra/test/support.js';
import { chromiumAvailable, iphoneContext, launchChromium, startTlsProxy, type TlsProxy } from './support.js';

describe('browser: sign in with Entra (stand-in) on an iPhone-sized Chromium', function () {
  this.timeout(90_000);
  let fx: IdentityFixture;
  let proxy: TlsProxy;
  before(async function () {
    if (!chromiumAvailable()) this.skip();
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
      const [cookie] = (await context.cookies('https://gateway.test')).filter((c) => c.name === 'gw_session');
      expect(cookie).to.include({ httpOnly: true, secure: true, sameSite: 'Lax' });
    } finally {
      await browser.close();
    }
  });
});
