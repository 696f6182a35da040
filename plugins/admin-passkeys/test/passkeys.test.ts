/**
 * Local admins with passkeys over HTTP, with a software authenticator (node:crypto keys, "none" attestation):
 * the CLI invite link, registration, sign-in, roles, sign-out, revocation, and bad input refused with a clear
 * 4xx that changes nothing (unknown, expired and reused invites, a wrong challenge or origin, a replayed
 * ceremony, an unknown passkey, a revoked admin).
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { testMasterKey, testServices, uniqueDatabaseUri } from '../../../test/support/services.js';
import { SoftAuthenticator } from '../../../test/support/soft-authenticator.js';
import { TestBrowser } from '../../../test/support/test-browser.js';

const PUBLIC_URL = 'https://gateway.test';
const json = { 'content-type': 'application/json', accept: 'application/json' };

interface Started {
  ceremonyId: string;
  options: { challenge: string; user: { id: string } };
}

describe('admin-passkeys: local admin accounts with passkeys', function () {
  this.timeout(60_000);
  const mongodbUri = uniqueDatabaseUri('passkeys');
  let gw: TestGateway;
  let db: mongoose.Connection;

  before(async () => {
    gw = await startTestGateway({
      label: 'passkeys',
      mongodbUri,
      enable: ['admin-access', 'admin-passkeys', 'admin-center'],
      plugins: [testAdminTokens],
      config: { publicUrl: PUBLIC_URL, http: { trustProxy: true } },
    });
    db = await mongoose.createConnection(mongodbUri).asPromise();
  });
  after(async () => {
    await db?.close();
    await gw?.stop();
  });

  const browser = () => new TestBrowser(PUBLIC_URL, gw.url);
  const authenticator = () => new SoftAuthenticator(PUBLIC_URL, 'gateway.test');
  const post = (b: TestBrowser, path: string, body: unknown = {}) =>
    b.request(`${PUBLIC_URL}${path}`, { method: 'POST', headers: json, body: JSON.stringify(body) });

  async function invite(email: string, role: 'full' | 'read-only' = 'full'): Promise<string> {
    const res = await gw.fetch('/api/admins/invites', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ email, role }),
    });
    expect(res.status, await res.clone().text()).to.equal(201);
    const { link } = (await res.json()) as { link: string };
    return new URL(link).pathname;
  }

  /** Registers a passkey from an invite link; returns the browser (signed in) and its authenticator. */
  async function register(path: string, key = authenticator(), b = browser()) {
    const started = (await (await post(b, `${path}/options`)).json()) as Started;
    const res = await post(b, path, { ceremonyId: started.ceremonyId, response: key.register(started.options) });
    expect(res.status, await res.clone().text()).to.equal(200);
    return { b, key };
  }

  async function signIn(key: SoftAuthenticator, b = browser(), overrides = {}) {
    const started = (await (await post(b, '/admin-auth/sign-in/options')).json()) as Started;
    const res = await post(b, '/admin-auth/sign-in', {
      ceremonyId: started.ceremonyId,
      response: key.authenticate(started.options, overrides),
      returnTo: '/admin/devices',
    });
    return { b, res };
  }

  const count = (collection: string) => db.collection(collection).countDocuments();

  it('`gateway admin invite` prints a one-time link; the invitee registers a passkey and is signed in', async () => {
    const builtIns = readdirSync(new URL('../../', import.meta.url), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    const env = {
      ...process.env,
      MONGODB_URI: mongodbUri,
      REDIS_URL: testServices().redisUrl,
      GATEWAY_PUBLIC_URL: PUBLIC_URL,
      GATEWAY_SECURITY__MASTER_KEY: testMasterKey,
      GATEWAY_LOG__LEVEL: 'error',
      ...Object.fromEntries(
        builtIns.map((n) => [
          `GATEWAY_PLUGINS__${n.toUpperCase().replace(/-/g, '_')}__ENABLED`,
          String(n === 'admin-access' || n === 'admin-passkeys'),
        ]),
      ),
    };
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', 'core/cli/main.ts', 'admin', 'invite', 'Ada@Example.test'],
        { cwd: fileURLToPath(new URL('../../../', import.meta.url)), env, timeout: 30_000 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      ),
    );
    const link = stdout.trim();
    expect(link).to.match(/^https:\/\/gateway\.test\/admin-auth\/invite\/[A-Za-z0-9_-]{43}$/);
    const b = browser();
    const page = await b.request(link);
    expect(page.status).to.equal(200);
    expect(await page.text())
      .to.include('ada@example.test')
      .and.include('/admin-auth/assets/webauthn.js');
    expect(page.headers.get('content-security-policy')).to.include("script-src 'self'");
    await register(new URL(link).pathname, authenticator(), b);
    const devices = await b.request(`${PUBLIC_URL}/admin/administrators`);
    expect(devices.status).to.equal(200);
    const html = await devices.text();
    expect(html).to.include('ada@example.test').and.include('action="/admin-auth/sign-out"');
  });

  it('signs in with the passkey, shows the admin, and signs out (sign-out needs the CSRF token)', async () => {
    const { key } = await register(await invite('grace@example.test'));
    const { b, res } = await signIn(key);
    expect(res.status, await res.clone().text()).to.equal(200);
    expect(await res.json()).to.deep.equal({ redirect: '/admin/devices' });
    const page = await (await b.request(`${PUBLIC_URL}/admin/administrators`)).text();
    expect(page).to.include('grace@example.test');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
    expect(csrf).to.be.a('string');
    const forged = await b.request(`${PUBLIC_URL}/admin-auth/sign-out`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=wrong',
    });
    expect(forged.status).to.equal(403);
    expect((await b.request(`${PUBLIC_URL}/admin/administrators`)).status).to.equal(200);
    const out = await b.request(`${PUBLIC_URL}/admin-auth/sign-out`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(csrf ?? '')}`,
    });
    expect(out.status).to.equal(302);
    const after = await b.request(`${PUBLIC_URL}/admin/administrators`);
    expect(after.status).to.equal(302);
    expect(after.headers.get('location')).to.equal('/admin/sign-in?returnTo=%2Fadmin%2Fadministrators');
    expect((await b.request(`${PUBLIC_URL}/api/admins`)).status).to.equal(401);
  });

  it('a read-only admin reads every area but cannot write or invite', async () => {
    const { b } = await register(await invite('reader@example.test', 'read-only'));
    expect((await b.request(`${PUBLIC_URL}/api/admins`)).status).to.equal(200);
    const page = await (await b.request(`${PUBLIC_URL}/admin/administrators`)).text();
    const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? '';
    const refused = await b.request(`${PUBLIC_URL}/api/admins/invites`, {
      method: 'POST',
      headers: { ...json, 'x-csrf-token': csrf },
      body: JSON.stringify({ email: 'x@example.test', role: 'read-only' }),
    });
    expect(refused.status).to.equal(403);
    expect(((await refused.json()) as { detail: string }).detail).to.include('admins:write');
  });

  it('a full admin writes only with the CSRF token', async () => {
    const { b } = await register(await invite('writer@example.test'));
    const body = JSON.stringify({ email: 'next@example.test', role: 'read-only' });
    const without = await b.request(`${PUBLIC_URL}/api/admins/invites`, { method: 'POST', headers: json, body });
    expect(without.status).to.equal(403);
    const page = await (await b.request(`${PUBLIC_URL}/admin/administrators`)).text();
    const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? '';
    const ok = await b.request(`${PUBLIC_URL}/api/admins/invites`, {
      method: 'POST',
      headers: { ...json, 'x-csrf-token': csrf },
      body,
    });
    expect(ok.status).to.equal(201);
  });

  it('refuses unknown, expired and reused invites with 404/410, creating nothing', async () => {
    const b = browser();
    const unknown = await b.request(`${PUBLIC_URL}/admin-auth/invite/${'A'.repeat(43)}`);
    expect(unknown.status).to.equal(404);
    expect(await unknown.text()).to.include('not valid');
    expect((await post(b, '/admin-auth/invite/short/options')).status).to.equal(404);

    const expiredPath = await invite('late@example.test');
    const id = (await db.collection('passkey_invites').findOne({ email: 'late@example.test' }))?._id;
    const started = (await (await post(b, `${expiredPath}/options`)).json()) as Started;
    await db.collection('passkey_invites').updateOne({ _id: id }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    const admins = await count('passkey_admins');
    const late = await post(b, expiredPath, {
      ceremonyId: started.ceremonyId,
      response: authenticator().register(started.options),
    });
    expect(late.status).to.equal(410);
    expect(((await late.json()) as { reason: string }).reason).to.equal('invite-expired');
    expect((await b.request(`${PUBLIC_URL}${expiredPath}`)).status).to.equal(410);

    const used = await invite('once@example.test');
    await register(used);
    const again = await post(b, `${used}/options`);
    expect(again.status).to.equal(410);
    expect(((await again.json()) as { reason: string }).reason).to.equal('invite-used');
    expect(await count('passkey_admins')).to.equal(admins + 1);
  });

  it('two registrations racing on one link create one admin', async () => {
    const path = await invite('race@example.test');
    const [one, two] = [browser(), browser()];
    const s1 = (await (await post(one, `${path}/options`)).json()) as Started;
    const s2 = (await (await post(two, `${path}/options`)).json()) as Started;
    const results = await Promise.all([
      post(one, path, { ceremonyId: s1.ceremonyId, response: authenticator().register(s1.options) }),
      post(two, path, { ceremonyId: s2.ceremonyId, response: authenticator().register(s2.options) }),
    ]);
    expect(results.map((r) => r.status).sort()).to.deep.equal([200, 410]);
    expect(await db.collection('passkey_admins').countDocuments({ email: 'race@example.test' })).to.equal(1);
  });

  it('refuses a wrong challenge, a wrong origin, a replayed ceremony and an unknown passkey', async () => {
    const b = browser();
    const path = await invite('careful@example.test');
    const key = authenticator();
    let started = (await (await post(b, `${path}/options`)).json()) as Started;
    const wrongChallenge = await post(b, path, {
      ceremonyId: started.ceremonyId,
      response: key.register(started.options, { challenge: Buffer.from('another').toString('base64url') }),
    });
    expect(wrongChallenge.status).to.equal(400);
    expect(((await wrongChallenge.json()) as { reason: string }).reason).to.equal('verification-failed');
    // The ceremony was used up by the refused answer: the invite still works with a new one.
    const replay = await post(b, path, { ceremonyId: started.ceremonyId, response: key.register(started.options) });
    expect(replay.status).to.equal(400);
    expect(((await replay.json()) as { reason: string }).reason).to.equal('ceremony-expired');
    started = (await (await post(b, `${path}/options`)).json()) as Started;
    const wrongOrigin = await post(b, path, {
      ceremonyId: started.ceremonyId,
      response: key.register(started.options, { origin: 'https://evil.test' }),
    });
    expect(wrongOrigin.status).to.equal(400);
    key.credentials.length = 0;
    await register(path, key);

    const signedIn = await signIn(key);
    expect(signedIn.res.status).to.equal(200);
    const badChallenge = await signIn(key, browser(), { challenge: Buffer.from('x').toString('base64url') });
    expect(badChallenge.res.status).to.equal(400);
    expect(badChallenge.b.cookie(PUBLIC_URL, '__Host-gw_admin')).to.equal(undefined);
    const stranger = authenticator();
    stranger.register({ challenge: 'x', user: { id: 'nobody' } });
    const unknown = await signIn(stranger);
    expect(unknown.res.status).to.equal(400);
    expect(((await unknown.res.json()) as { reason: string }).reason).to.equal('unknown-passkey');
    const notJson = await browser().request(`${PUBLIC_URL}/admin-auth/sign-in`, { method: 'POST', body: 'x' });
    expect(notJson.status).to.equal(415);
    const malformed = await post(browser(), '/admin-auth/sign-in', { ceremonyId: 'x', response: { id: 1 } });
    expect(malformed.status).to.equal(400);
  });

  it('revocation signs the admin out at once and refuses their passkey', async () => {
    const { b, key } = await register(await invite('leaver@example.test'));
    expect((await b.request(`${PUBLIC_URL}/api/admins`)).status).to.equal(200);
    const { items } = (await (await gw.fetch('/api/admins', { headers: adminHeaders() })).json()) as {
      items: { id: string; email: string }[];
    };
    const leaver = items.find((a) => a.email === 'leaver@example.test');
    const revoked = await gw.fetch(`/api/admins/${leaver?.id}`, { method: 'DELETE', headers: adminHeaders() });
    expect(revoked.status).to.equal(200);
    expect((await b.request(`${PUBLIC_URL}/api/admins`)).status).to.equal(401);
    const page = await b.request(`${PUBLIC_URL}/admin/devices`);
    expect(page.status).to.equal(302);
    expect(page.headers.get('location')).to.match(/^\/admin\/sign-in/);
    const again = await signIn(key);
    expect(again.res.status).to.equal(403);
    expect(((await again.res.json()) as { reason: string }).reason).to.equal('admin-revoked');
    const audit = await db.collection('audit_log').findOne({ action: 'admin.revoked', 'target.id': leaver?.id });
    expect(audit).to.not.equal(null);
  });

  it('an anonymous browser at /admin reaches the passkey sign-in page, never a 401', async () => {
    const b = browser();
    const { response, url } = await b.navigate(`${PUBLIC_URL}/admin`);
    expect(response.status).to.equal(200);
    expect(url).to.equal(`${PUBLIC_URL}/admin-auth/sign-in?returnTo=%2Fadmin%2Fsetup`);
    expect(await response.text()).to.include('Sign in with a passkey');
  });
});
