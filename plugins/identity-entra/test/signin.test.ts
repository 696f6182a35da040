import { expect } from 'chai';
import { safeReturnPath } from '../src/sessions.js';
import { auditEntries, type IdentityFixture, PUBLIC_URL, STAFF_GROUP, startIdentityFixture } from './support.js';

const COOKIE = '__Host-gw_session';

describe('identity-entra: sign-in through the OIDC stand-in', function () {
  this.timeout(60_000);
  let fx: IdentityFixture;
  before(async () => {
    fx = await startIdentityFixture('idsignin');
  });
  after(async () => {
    await fx?.stop();
  });

  it('signs in with the authorization code flow and lands on /auth/me with a secure session cookie', async () => {
    const b = fx.browser();
    fx.standin.autoLogin = fx.accounts.user.oid;
    const start = await b.request(`${PUBLIC_URL}/auth/signin?returnTo=%2Fauth%2Fme`);
    expect(start.status).to.equal(302);
    const authorize = new URL(start.headers.get('location') ?? '');
    expect(authorize.origin + authorize.pathname).to.equal(`${fx.standin.issuer}/auth`);
    expect(authorize.searchParams.get('response_type')).to.equal('code');
    expect(authorize.searchParams.get('state')).to.match(/^[\w-]{32}$/);
    expect(authorize.searchParams.get('nonce')).to.match(/^[\w-]{32}$/);
    expect(authorize.searchParams.get('redirect_uri')).to.equal(`${PUBLIC_URL}/auth/callback`);
    const setCookie = start.headers.getSetCookie().join('\n');
    // Before sign-in only the encrypted sign-in state cookie: no session exists yet, on the server or here.
    expect(setCookie).to.match(/^__Host-gw_session\.signin=[^;]+;.*path=\//i);
    expect(setCookie).not.to.match(/^__Host-gw_session=/m);
    // __Host-: a sibling subdomain cannot plant or shadow it (Secure, Path=/ and no Domain are required).
    expect(setCookie).not.to.match(/domain=/i);
    expect(setCookie)
      .to.match(/secure/i)
      .and.match(/httponly/i)
      .and.match(/samesite=lax/i);

    const { response, url } = await b.navigate(authorize.toString());
    expect(url).to.equal(`${PUBLIC_URL}/auth/me`);
    expect(response.status).to.equal(200);
    const me = (await response.json()) as Record<string, unknown>;
    expect(me).to.include({
      id: fx.accounts.user.oid,
      upn: 'bob@contoso.test',
      displayName: 'Bob User',
      isAdmin: false,
    });
    expect(me.tenantId).to.equal(fx.standin.tenantId);
    expect(me.groups).to.deep.equal([STAFF_GROUP]);
    expect(me.csrfToken).to.be.a('string');
    // The callback hop set a new session id (fixation protection).
    const callbackHop = b.hops.find((h) => h.url.startsWith(`${PUBLIC_URL}/auth/callback`));
    expect(callbackHop?.status).to.equal(302);
    expect(callbackHop?.location).to.equal('/auth/me');
  });

  it('stores the user in the directory with last sign-in and groups', async () => {
    await fx.signIn(fx.accounts.user);
    const mongoose = await import('mongoose');
    const conn = await mongoose.createConnection(fx.gw.mongodbUri).asPromise();
    try {
      const doc = await conn.collection('identity_users').findOne({ _id: fx.accounts.user.oid as never });
      expect(doc).to.include({
        upn: 'bob@contoso.test',
        displayName: 'Bob User',
        tenantId: fx.standin.tenantId,
      });
      expect(doc?.groups).to.deep.equal([STAFF_GROUP]);
      expect(doc?.lastSignInAt).to.be.instanceOf(Date);
      expect(
        await conn.collection('identity_user_disabled').countDocuments({}),
        'enabled: no disabled record',
      ).to.equal(0);
    } finally {
      await conn.close();
    }
  });

  it('answers /auth/me with 401 problem+json without a session, and with a forged cookie', async () => {
    const b = fx.browser();
    const res = await b.request(`${PUBLIC_URL}/auth/me`);
    expect(res.status).to.equal(401);
    expect(res.headers.get('content-type')).to.match(/application\/problem\+json/);
    const { browser } = await fx.signIn(fx.accounts.user);
    const real = browser.cookie(PUBLIC_URL, COOKIE) ?? '';
    const [id] = real.split('.');
    b.setCookie(PUBLIC_URL, COOKIE, `${id}.${'A'.repeat(43)}`);
    expect((await b.request(`${PUBLIC_URL}/auth/me`)).status).to.equal(401);
  });

  it('refuses a replayed state (the callback URL used twice)', async () => {
    const b = fx.browser();
    fx.standin.autoLogin = fx.accounts.user.oid;
    await b.navigate(`${PUBLIC_URL}/auth/signin?returnTo=/auth/me`);
    const callback = b.hops.find((h) => h.url.startsWith(`${PUBLIC_URL}/auth/callback`));
    expect(callback?.status).to.equal(302);
    const again = await b.request(callback?.url ?? '');
    expect(again.status).to.equal(400);
    expect(again.headers.get('content-type')).to.match(/application\/problem\+json/);
    expect(
      (await auditEntries(fx.gw, 'identity.signin.refused')).some((e) => e.after?.reason === 'invalid_state'),
    ).to.equal(true);
  });

  it('refuses a callback whose state was never issued to this browser', async () => {
    const victim = fx.browser();
    fx.standin.autoLogin = fx.accounts.user.oid;
    const start = await victim.request(`${PUBLIC_URL}/auth/signin`);
    const authorize = start.headers.get('location') ?? '';
    // The attacker's browser follows the provider's redirect carrying someone else's code and state.
    const attacker = fx.browser();
    const hop = await attacker.request(authorize);
    let location = hop.headers.get('location') ?? '';
    for (let i = 0; i < 6 && !location.startsWith(PUBLIC_URL); i++) {
      const next = await attacker.request(new URL(location, authorize).toString());
      location = next.headers.get('location') ?? '';
    }
    expect(location.startsWith(`${PUBLIC_URL}/auth/callback?`)).to.equal(true);
    const res = await attacker.request(location);
    expect(res.status).to.equal(400);
  });

  it('shows a page, not JSON, to a browser that is refused', async () => {
    const b = fx.browser();
    const res = await b.request(`${PUBLIC_URL}/auth/callback?code=abc&state=${'x'.repeat(32)}`, {
      headers: { accept: 'text/html,application/xhtml+xml' },
    });
    expect(res.status).to.equal(400);
    expect(res.headers.get('content-type')).to.match(/text\/html/);
    expect(await res.text()).to.match(/Sign-in link expired or reused/);
  });

  // Each value is sent as written in the query string: "%0d%0a" reaches the server as a real CR/LF.
  for (const [name, query] of [
    ['absolute URL', encodeURIComponent('https://evil.example/')],
    ['protocol-relative', encodeURIComponent('//evil.example/x')],
    ['backslash', encodeURIComponent('/\\evil.example')],
    ['javascript scheme', encodeURIComponent('javascript:alert(1)')],
    ['CR/LF (header injection)', '/%0d%0aLocation:%20https://evil.example'],
    ['dot segment before //', '/.//evil.example'],
    ['encoded dot segment before //', '/%2e//evil.example'],
    ['parent segment before //', '/a/..//evil.example'],
  ] as const) {
    it(`refuses an open redirect: ${name}`, async () => {
      const b = fx.browser();
      const res = await b.request(`${PUBLIC_URL}/auth/signin?returnTo=${query}`);
      expect(res.status).to.equal(400);
      expect(res.headers.get('location')).to.equal(null);
      expect(res.headers.getSetCookie()).to.deep.equal([]);
    });
  }

  it('audit-logs refused open redirects', async () => {
    const entries = await auditEntries(fx.gw, 'identity.redirect.refused');
    expect(entries.map((e) => e.after?.returnTo))
      .to.include('https://evil.example/')
      .and.include('/\r\nLocation: https://evil.example')
      .and.include('/.//evil.example');
  });

  it('never returns a path a browser reads as another host, and keeps ordinary paths', () => {
    for (const value of ['/.//evil.x', '/%2e//evil.x', '/%2E//evil.x', '/a/..//evil.x', '/./\\evil.x', '/%2e%2e//x']) {
      expect(safeReturnPath(value), value).to.equal(undefined);
    }
    expect(safeReturnPath('/devices/1?tab=a#top')).to.equal('/devices/1?tab=a#top');
    expect(safeReturnPath('/a/../devices')).to.equal('/devices');
    expect(safeReturnPath(undefined)).to.equal('/');
  });

  it('signs out only with the CSRF token; without it the session survives (403)', async () => {
    const { browser } = await fx.signIn(fx.accounts.user);
    const noToken = await browser.request(`${PUBLIC_URL}/auth/signout`, { method: 'POST' });
    expect(noToken.status).to.equal(403);
    const wrongForm = await browser.request(`${PUBLIC_URL}/auth/signout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=not-the-token',
    });
    expect(wrongForm.status).to.equal(403);
    const me = await browser.request(`${PUBLIC_URL}/auth/me`);
    expect(me.status).to.equal(200);
    const { csrfToken } = (await me.json()) as { csrfToken: string };
    expect((await auditEntries(fx.gw, 'identity.csrf.refused')).length).to.be.greaterThan(0);

    const cookieBefore = browser.cookie(PUBLIC_URL, COOKIE) ?? '';
    const out = await browser.request(`${PUBLIC_URL}/auth/signout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(csrfToken)}`,
    });
    expect(out.status).to.equal(303);
    expect((await browser.request(`${PUBLIC_URL}/auth/me`)).status).to.equal(401);
    // The old cookie is dead server-side too (the Redis record is gone).
    const replay = fx.browser();
    replay.setCookie(PUBLIC_URL, COOKIE, cookieBefore);
    expect((await replay.request(`${PUBLIC_URL}/auth/me`)).status).to.equal(401);
  });

  it('refuses sessions over plain http when the proxy did not say https', async () => {
    const res = await fetch(`${fx.gw.url}/auth/signin`, { redirect: 'manual' });
    expect(res.status).to.equal(403);
    expect(res.headers.getSetCookie()).to.deep.equal([]);
  });
});
