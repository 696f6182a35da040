import { expect } from 'chai';
import { ADMIN_GROUP, type OidcFixture, PUBLIC_URL, STAFF_GROUP, startOidcFixture } from './support.js';

const me = async (response: Response) => (await response.json()) as Record<string, unknown>;

describe('identity-oidc: sign-in with a generic OpenID Connect provider', function () {
  this.timeout(60_000);
  let fx: OidcFixture;
  before(async () => {
    fx = await startOidcFixture('oidcsignin');
  });
  after(async () => {
    await fx?.stop();
  });

  it('discovers the provider and sends the browser there with PKCE (S256), state and nonce', async () => {
    const b = fx.browser();
    const start = await b.request(`${PUBLIC_URL}/auth/signin?returnTo=%2Fauth%2Fme`);
    expect(start.status).to.equal(302);
    const authorize = new URL(start.headers.get('location') ?? '');
    expect(authorize.origin + authorize.pathname).to.equal(`${fx.standin.issuer}/auth`);
    const params = authorize.searchParams;
    expect(params.get('client_id')).to.equal(fx.standin.clientId);
    expect(params.get('response_type')).to.equal('code');
    expect(params.get('redirect_uri')).to.equal(`${PUBLIC_URL}/auth/callback`);
    expect(params.get('scope')).to.equal('openid profile email');
    expect(params.get('code_challenge_method')).to.equal('S256');
    expect(params.get('code_challenge')).to.match(/^[\w-]{43}$/);
    expect(params.get('state')).to.match(/^[\w-]{20,}$/);
    expect(params.get('nonce')).to.match(/^[\w-]{20,}$/);
  });

  it('signs a user in: subject, name, groups from the groups claim, not an admin', async () => {
    const { final, url } = await fx.signIn(fx.accounts.user);
    expect(url).to.equal(`${PUBLIC_URL}/auth/me`);
    expect(final.status).to.equal(200);
    const body = await me(final);
    expect(body).to.include({
      id: fx.accounts.user.oid,
      upn: 'bob@example.test',
      displayName: 'Bob User',
      isAdmin: false,
    });
    expect(body.groups).to.deep.equal([STAFF_GROUP]);
    expect(body.tenantId).to.equal(undefined);
  });

  it('makes admins from the roles claim and from an admin group; others get 403 on the admin API', async () => {
    for (const account of [fx.accounts.admin, fx.accounts.groupAdmin]) {
      const { browser, final } = await fx.signIn(account);
      expect((await me(final)).isAdmin, account.upn).to.equal(true);
      const users = await browser.request(`${PUBLIC_URL}/api/identity/users`);
      expect(users.status, account.upn).to.equal(200);
      const listed = (await users.json()) as { items: { id: string; groups: string[] }[] };
      expect(listed.items.map((u) => u.id)).to.include(account.oid);
    }
    const { browser } = await fx.signIn(fx.accounts.user);
    const refused = await browser.request(`${PUBLIC_URL}/api/identity/users`);
    expect(refused.status).to.equal(403);
    expect(ADMIN_GROUP).to.not.equal(STAFF_GROUP);
  });

  it('refuses a callback whose state this browser never issued, and a replayed callback', async () => {
    const b = fx.browser();
    const callback = await fx.callbackUrl(b, fx.accounts.user);
    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged-state-value-0000000000');
    const refused = await b.request(forged.toString());
    expect(refused.status).to.equal(400);
    expect((await me(refused)).reason).to.equal('invalid_state');
    // The real callback still works once ...
    const ok = await b.navigate(callback.toString());
    expect(ok.url).to.equal(`${PUBLIC_URL}/auth/me`);
    // ... and only once: the state was used up.
    const replay = await b.request(callback.toString());
    expect(replay.status).to.equal(400);
    expect((await me(replay)).reason).to.equal('invalid_state');
  });

  it("refuses a callback carried to another browser (the state lives in the first browser's session)", async () => {
    const callback = await fx.callbackUrl(fx.browser(), fx.accounts.user);
    const other = fx.browser();
    const refused = await other.request(callback.toString());
    expect(refused.status).to.equal(400);
  });

  it('refuses an id token with the wrong nonce, a tampered signature, or another audience', async () => {
    const cases = [
      { mutate: (c: Record<string, unknown>) => ({ claims: { ...c, nonce: 'other-nonce' } }), reason: 'invalid_token' },
      { mutate: (c: Record<string, unknown>) => ({ claims: c, tamper: true }), reason: 'tampered_token' },
      { mutate: (c: Record<string, unknown>) => ({ claims: { ...c, aud: 'someone-else' } }), reason: 'wrong_audience' },
    ];
    for (const { mutate, reason } of cases) {
      const b = fx.browser();
      const callback = await fx.callbackUrl(b, fx.accounts.user);
      fx.standin.nextIdTokenMutation = mutate;
      const refused = await b.request(callback.toString());
      expect(refused.status, reason).to.equal(403);
      expect((await me(refused)).reason).to.equal(reason);
      // No session was created.
      const after = await b.request(`${PUBLIC_URL}/auth/me`);
      expect(after.status, reason).to.equal(401);
    }
  });

  it("the admin center's Users page lists the users who signed in with this provider", async () => {
    await fx.signIn(fx.accounts.user);
    const { browser } = await fx.signIn(fx.accounts.admin);
    const res = await browser.request(`${PUBLIC_URL}/admin/users`, { headers: { accept: 'text/html' } });
    expect(res.status).to.equal(200);
    const page = await res.text();
    expect(page).to.include('Bob User').and.include('bob@example.test').and.include('Alice Admin');
    expect(page).not.to.include('no-identity-provider');
  });

  it("the setup checklist points at this provider's guide", async () => {
    const { browser } = await fx.signIn(fx.accounts.admin);
    const res = await browser.request(`${PUBLIC_URL}/api/setup/checklist`);
    expect(res.status).to.equal(200);
    const { items } = (await res.json()) as { items: { item: string; ok: boolean; link: string }[] };
    const identity = items.find((i) => i.item === 'identity-provider');
    expect(identity).to.include({ ok: true });
    expect(identity?.link).to.match(/^docs\/identity-oidc\.md/);
  });

  it('accepts a bearer access token for the client from this issuer on the admin API', async () => {
    const adminToken = fx.standin.issueAccessToken({ audience: fx.standin.clientId, account: fx.accounts.admin });
    const ok = await fx.gw.fetch('/api/identity/users', {
      headers: { authorization: `Bearer ${adminToken}`, 'x-forwarded-proto': 'https' },
    });
    expect(ok.status).to.equal(200);
    const wrongAudience = fx.standin.issueAccessToken({ audience: 'api://other', account: fx.accounts.admin });
    const refused = await fx.gw.fetch('/api/identity/users', {
      headers: { authorization: `Bearer ${wrongAudience}`, 'x-forwarded-proto': 'https' },
    });
    expect(refused.status).to.equal(401);
    const userToken = fx.standin.issueAccessToken({ audience: fx.standin.clientId, account: fx.accounts.user });
    const forbidden = await fx.gw.fetch('/api/identity/users', {
      headers: { authorization: `Bearer ${userToken}`, 'x-forwarded-proto': 'https' },
    });
    expect(forbidden.status).to.equal(403);
  });
});

describe('identity-oidc: configurable claims', function () {
  this.timeout(60_000);
  let fx: OidcFixture;
  before(async () => {
    // Roles read from the groups claim, so a group listed in adminRoles makes admins; the groups claim required.
    fx = await startOidcFixture(
      'oidcclaims',
      { rolesClaim: 'groups', requireGroupsClaim: true },
      { adminRoles: [STAFF_GROUP], adminGroups: [] },
    );
  });
  after(async () => {
    await fx?.stop();
  });

  it('reads roles from the configured claim and grants admin from them', async () => {
    const { browser, final } = await fx.signIn(fx.accounts.user);
    const body = await me(final);
    expect(body.roles).to.deep.equal([STAFF_GROUP]);
    expect(body.isAdmin).to.equal(true);
    expect((await browser.request(`${PUBLIC_URL}/api/identity/users`)).status).to.equal(200);
    // Alice's "Gateway.Admin" sits in the roles claim, which this configuration does not read.
    const alice = await me((await fx.signIn(fx.accounts.admin)).final);
    expect(alice.roles).to.deep.equal([STAFF_GROUP]);
    const erin = await me((await fx.signIn(fx.accounts.groupAdmin)).final);
    expect(erin).to.include({ isAdmin: false });
    expect(erin.roles).to.deep.equal([ADMIN_GROUP]);
  });

  it('refuses a sign-in without the required groups claim', async () => {
    const b = fx.browser();
    const callback = await fx.callbackUrl(b, fx.accounts.noGroups);
    const refused = await b.request(callback.toString());
    expect(refused.status).to.equal(403);
    expect((await me(refused)).reason).to.equal('missing_groups');
  });
});
