import { expect } from 'chai';
import { OidcStandin } from '../../../test/support/oidc-standin.js';
import { auditEntries, type IdentityFixture, PUBLIC_URL, startIdentityFixture } from './support.js';

describe('identity-entra: bad tokens, groups, disabled users and admin access', function () {
  this.timeout(60_000);
  let fx: IdentityFixture;
  before(async () => {
    fx = await startIdentityFixture('idtokens');
  });
  after(async () => {
    await fx?.stop();
  });

  const devices = (token: string) => fx.gw.fetch('/api/mdm/devices', { headers: { authorization: `Bearer ${token}` } });
  const refusedReasons = async (action: string) =>
    (await auditEntries(fx.gw, action)).map((e) => e.after?.reason as string);

  describe('sign-in refusals (id token from the token endpoint)', () => {
    const cases: [
      string,
      string,
      (c: Record<string, unknown>) => { claims: Record<string, unknown>; tamper?: boolean },
    ][] = [
      ['tampered', 'tampered_token', (claims) => ({ claims, tamper: true })],
      ['expired', 'expired_token', (claims) => ({ claims: { ...claims, iat: 1_000, nbf: 1_000, exp: 2_000 } })],
      ['wrong audience', 'wrong_audience', (claims) => ({ claims: { ...claims, aud: 'some-other-app' } })],
      [
        'wrong tenant (issuer)',
        'wrong_tenant',
        (claims) => ({ claims: { ...claims, iss: fx.standin.issuerFor('72f988bf-0000-0000-0000-000000000000') } }),
      ],
    ];
    for (const [name, reason, mutation] of cases) {
      it(`refuses a ${name} id token (401) and audit-logs it`, async () => {
        fx.standin.nextIdTokenMutation = (claims) => mutation(claims);
        const { final, browser } = await fx.signIn(fx.accounts.user);
        expect(final.status).to.equal(401);
        expect((await browser.request(`${PUBLIC_URL}/auth/me`)).status).to.equal(401);
        expect(await refusedReasons('identity.signin.refused')).to.include(reason);
      });
    }

    it('refuses a token whose tid is another tenant even with our issuer', async () => {
      const { final } = await fx.signIn(fx.accounts.otherTenant);
      expect(final.status).to.equal(401);
      expect(await refusedReasons('identity.signin.refused')).to.include('wrong_tenant');
    });

    it('refuses an id token without a groups claim (403)', async () => {
      const { final } = await fx.signIn(fx.accounts.noGroups);
      expect(final.status).to.equal(403);
      expect(await refusedReasons('identity.signin.refused')).to.include('missing_groups');
    });

    it('fetches groups from Graph with an app-only token on overage', async () => {
      const before = fx.standin.graphCalls.length;
      const { final } = await fx.signIn(fx.accounts.overage);
      expect(final.status).to.equal(200);
      const me = (await final.json()) as { groups: string[] };
      expect(me.groups).to.have.length(230);
      expect(me.groups).to.deep.equal(fx.accounts.overage.groups);
      const calls = fx.standin.graphCalls.slice(before);
      expect(calls).to.deep.equal([{ userId: fx.accounts.overage.oid, authorized: true }]);
    });
  });

  describe('disabled users', () => {
    it('an admin disables a user: their session ends, sign-in is refused, both audit-logged', async () => {
      const victim = await fx.signIn(fx.accounts.user);
      expect(victim.final.status).to.equal(200);
      const admin = await fx.signIn(fx.accounts.admin);
      const { csrfToken } = (await admin.final.json()) as { csrfToken: string };

      const noCsrf = await admin.browser.request(`${PUBLIC_URL}/api/identity/users/${fx.accounts.user.oid}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ enabled: false }),
      });
      expect(noCsrf.status).to.equal(403);

      const patch = await admin.browser.request(`${PUBLIC_URL}/api/identity/users/${fx.accounts.user.oid}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
        body: JSON.stringify({ enabled: false }),
      });
      expect(patch.status).to.equal(200);
      expect(((await patch.json()) as { enabled: boolean }).enabled).to.equal(false);
      const [entry] = await auditEntries(fx.gw, 'identity.user.disable');
      expect(entry).to.deep.include({ before: { enabled: true }, after: { enabled: false } });
      expect(entry.actor.id).to.equal(fx.accounts.admin.oid);

      expect((await victim.browser.request(`${PUBLIC_URL}/auth/me`)).status).to.equal(401);
      const again = await fx.signIn(fx.accounts.user);
      expect(again.final.status).to.equal(403);
      expect(await refusedReasons('identity.signin.refused')).to.include('user_disabled');

      await admin.browser.request(`${PUBLIC_URL}/api/identity/users/${fx.accounts.user.oid}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
        body: JSON.stringify({ enabled: true }),
      });
      expect((await fx.signIn(fx.accounts.user)).final.status).to.equal(200);
    });
  });

  describe('admin routes', () => {
    it('refuse anonymous callers (401) and a signed-in non-admin (403)', async () => {
      expect((await fx.gw.fetch('/api/mdm/devices')).status).to.equal(401);
      const { browser } = await fx.signIn(fx.accounts.user);
      expect((await browser.request(`${PUBLIC_URL}/api/mdm/devices`)).status).to.equal(403);
      expect((await browser.request(`${PUBLIC_URL}/api/identity/users`)).status).to.equal(403);
    });

    it('accept an admin session (app role) and an admin-group member', async () => {
      for (const account of [fx.accounts.admin, fx.accounts.groupAdmin]) {
        const { browser, final } = await fx.signIn(account);
        expect(((await final.json()) as { isAdmin: boolean }).isAdmin).to.equal(true);
        const res = await browser.request(`${PUBLIC_URL}/api/mdm/devices`);
        expect(res.status).to.equal(200);
        expect((await res.json()) as object).to.have.property('items');
      }
      const { browser } = await fx.signIn(fx.accounts.admin);
      const users = (await (await browser.request(`${PUBLIC_URL}/api/identity/users`)).json()) as {
        items: { upn: string }[];
      };
      expect(users.items.map((u) => u.upn)).to.include('alice@contoso.test');
    });

    it('accept a valid bearer token with the admin app role (api://<client id> audience too)', async () => {
      for (const audience of [fx.standin.clientId, `api://${fx.standin.clientId}`]) {
        const token = fx.standin.issueAccessToken({ audience, roles: ['Gateway.Admin'] });
        const res = await devices(token);
        expect(res.status).to.equal(200);
      }
    });

    it('answers 403 to a valid token without the admin role', async () => {
      const res = await devices(
        fx.standin.issueAccessToken({ audience: fx.standin.clientId, account: fx.accounts.user }),
      );
      expect(res.status).to.equal(403);
    });

    const bad: [string, () => string, string][] = [
      [
        'expired',
        () =>
          fx.standin.issueAccessToken({
            audience: fx.standin.clientId,
            roles: ['Gateway.Admin'],
            lifetimeSeconds: -600,
          }),
        'expired_token',
      ],
      [
        'tampered',
        () => OidcStandin.tamper(fx.standin.issueAccessToken({ audience: fx.standin.clientId })),
        'tampered_token',
      ],
      [
        'wrong-audience',
        () => fx.standin.issueAccessToken({ audience: 'https://graph.microsoft.com', roles: ['Gateway.Admin'] }),
        'wrong_audience',
      ],
      [
        'wrong-tenant',
        () =>
          fx.standin.issueAccessToken({
            audience: fx.standin.clientId,
            roles: ['Gateway.Admin'],
            tenantId: '72f988bf-0000-0000-0000-000000000000',
          }),
        'wrong_tenant',
      ],
      [
        'wrong-tenant (tid only)',
        () =>
          fx.standin.issueAccessToken({
            audience: fx.standin.clientId,
            roles: ['Gateway.Admin'],
            overrides: { tid: '72f988bf-0000-0000-0000-000000000001' },
          }),
        'wrong_tenant',
      ],
      [
        'unsigned (alg none)',
        () => {
          const [, body] = fx.standin
            .issueAccessToken({ audience: fx.standin.clientId, roles: ['Gateway.Admin'] })
            .split('.');
          return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${body}.`;
        },
        'tampered_token',
      ],
    ];
    for (const [name, make, reason] of bad) {
      it(`refuse a ${name} bearer token with 401 problem+json, audit-logged`, async () => {
        const res = await devices(make());
        expect(res.status).to.equal(401);
        expect(res.headers.get('content-type')).to.match(/application\/problem\+json/);
        expect(res.headers.get('www-authenticate')).to.match(/invalid_token/);
        expect(await refusedReasons('identity.bearer.refused')).to.include(reason);
      });
    }
  });
});
