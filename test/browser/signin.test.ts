/**
 * A real browser (headless Chromium, iPhone viewport and Safari user agent) signs in at the OIDC
 * stand-in and lands on the gateway. The gateway sits behind a small TLS proxy for https://gateway.test
 * (as in production), which Chromium reaches through --host-resolver-rules.
 */
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { chromium } from 'playwright-core';
import { type IdentityFixture, startIdentityFixture } from '../../plugins/identity-entra/test/support.js';
import { issueTestLeaf } from '../support/test-tls.js';

const CHROMIUM = '/usr/bin/chromium';

/** TLS termination in front of the gateway, adding X-Forwarded-Proto like the production proxy. */
async function startTlsProxy(target: string): Promise<{ server: Server; port: number }> {
  const leaf = issueTestLeaf(['gateway.test']);
  const upstream = new URL(target);
  const server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-proto': 'https' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('browser: sign in with Entra (stand-in) on an iPhone-sized Chromium', function () {
  this.timeout(90_000);
  let fx: IdentityFixture;
  let proxy: { server: Server; port: number };
  before(async function () {
    if (!existsSync(CHROMIUM)) this.skip();
    fx = await startIdentityFixture('idbrowser');
    proxy = await startTlsProxy(fx.gw.url);
  });
  after(async () => {
    proxy?.server.closeAllConnections();
    proxy?.server.close();
    await fx?.stop();
  });

  it('submits the provider login form and lands on /auth/me signed in', async () => {
    fx.standin.autoLogin = undefined;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--host-resolver-rules=MAP gateway.test:443 127.0.0.1:${proxy.port}`,
      ],
    });
    try {
      const context = await browser.newContext({
        // Chromium does not read NODE_EXTRA_CA_CERTS; the test CA is trusted by Node only.
        ignoreHTTPSErrors: true,
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 3,
        isMobile: true,
        hasTouch: true,
        userAgent:
          'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      });
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
