import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { OidcStandin } from '../../../test/support/oidc-standin.js';
import { UserRecordCache } from '../src/browser-sessions.js';
import type { StoredUser } from '../src/users.js';
import { auditEntries, type IdentityFixture, PUBLIC_URL, STAFF_GROUP, startIdentityFixture } from './support.js';

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
      it(`refuses a ${name} id token (403, never 401 to a phone) and audit-logs it`, async () => {
        fx.standin.nextIdTokenMutation = (claims) => mutation(claims);
        const { final, browser } = await fx.signIn(fx.accounts.user);
        expect(final.status).to.equal(403);
        expect((await browser.request(`${PUBLIC_URL}/auth/me`)).status).to.equal(401);
        expect(await refusedReasons('identity.signin.refused')).to.include(reason);
      });
    }

    it('shows Safari a 403 page, not a 401, for a refused token at the callback', async () => {
      fx.standin.nextIdTokenMutation = (claims) => ({ claims: { ...claims, exp: 2_000, iat: 1_000, nbf: 1_000 } });
      fx.standin.autoLogin = fx.accounts.user.oid;
      const { response } = await fx.browser().navigate(`${PUBLIC_URL}/auth/signin?returnTo=/`, {
        headers: { accept: 'text/html,application/xhtml+xml', 'user-agent': 'Mozilla/5.0 (iPhone) Safari/604.1' },
      });
      expect(response.status).to.equal(403);
      expect(response.headers.get('www-authenticate')).to.equal(null);
      expect(response.headers.get('content-type')).to.match(/text\/html/);
      expect(await response.text()).to.include('The token has expired.');
    });

    it('refuses a token whose tid is another tenant even with our issuer', async () => {
      const { final } = await fx.signIn(fx.accounts.otherTenant);
      expect(final.status).to.equal(403);
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

  describe('directory decides per request', () => {
    const setEnabled = async (oid: string, enabled: boolean) => {
      const admin = await fx.signIn(fx.accounts.admin);
      const { csrfToken } = (await admin.final.json()) as { csrfToken: string };
      const res = await admin.browser.request(`${PUBLIC_URL}/api/identity/users/${oid}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
        body: JSON.stringify({ enabled }),
      });
      expect(res.status).to.equal(200);
    };

    it('a directory read racing a disable cannot put the old "enabled" back in the cache', async () => {
      const ctx = fx.gw.gateway.context('identity-entra');
      const id = randomUUID();
      let stored: StoredUser = {
        id,
        upn: 'race@contoso.test',
        displayName: 'Race',
        enabled: true,
        groups: [],
        roles: [],
      };
      let reads = 0;
      let readStarted!: () => void;
      let releaseRead!: () => void;
      const started = new Promise<void>((resolve) => {
        readStarted = resolve;
      });
      const released = new Promise<void>((resolve) => {
        releaseRead = resolve;
      });
      const users = {
        async record(): Promise<StoredUser> {
          const snapshot = { ...stored };
          if (++reads === 1) {
            readStarted();
            await released;
          }
          return snapshot;
        },
      };
      const cache = new UserRecordCache(ctx.redis, `${ctx.redisKeyPrefix}race:`, users);
      const racing = cache.get(id);
      await started;
      // The disable lands while that read is in flight: database write, then the cache drop.
      stored = { ...stored, enabled: false };
      await cache.drop(id);
      releaseRead();
      expect((await racing)?.enabled, 'the read that began before the disable').to.equal(true);
      expect((await cache.get(id))?.enabled).to.equal(false);
      expect((await cache.get(id))?.enabled, 'now from the cache').to.equal(false);
      expect(reads).to.equal(2);
    });

    it("refuses a disabled user's bearer token (403, audit-logged); app-only tokens still pass", async () => {
      const account = fx.accounts.groupAdmin;
      // The user has signed in once, so the directory knows them.
      expect((await fx.signIn(account)).final.status).to.equal(200);
      const token = fx.standin.issueAccessToken({ audience: fx.standin.clientId, account, roles: ['Gateway.Admin'] });
      expect((await devices(token)).status).to.equal(200);

      await setEnabled(account.oid, false);
      try {
        const refused = await devices(token);
        expect(refused.status).to.equal(403);
        expect(((await refused.json()) as { reason?: string }).reason).to.equal('user_disabled');
        const entries = await auditEntries(fx.gw, 'identity.bearer.refused');
        expect(entries.some((e) => e.actor.id === account.oid && e.after?.reason === 'user_disabled')).to.equal(true);
        const appOnly = fx.standin.issueAccessToken({ audience: fx.standin.clientId, roles: ['Gateway.Admin'] });
        expect((await devices(appOnly)).status).to.equal(200);
      } finally {
        await setEnabled(account.oid, true);
      }
      expect((await devices(token)).status).to.equal(200);
    });

    it('a member removed from the admin group loses admin at their next sign-in, even in an older session', async () => {
      const account = fx.accounts.groupAdmin;
      const old = await fx.signIn(account);
      expect((await old.browser.request(`${PUBLIC_URL}/api/mdm/devices`)).status).to.equal(200);
      const groups = account.groups;
      account.groups = [STAFF_GROUP];
      try {
        // Signing in anywhere (another browser) stores the new groups in the directory.
        const fresh = await fx.signIn(account);
        expect(((await fresh.final.json()) as { isAdmin: boolean }).isAdmin).to.equal(false);
        expect((await old.browser.request(`${PUBLIC_URL}/api/mdm/devices`)).status).to.equal(403);
        const me = (await (await old.browser.request(`${PUBLIC_URL}/auth/me`)).json()) as { isAdmin: boolean };
        expect(me.isAdmin).to.equal(false);
      } finally {
        account.groups = groups;
      }
      await fx.signIn(account);
      expect((await old.browser.request(`${PUBLIC_URL}/api/mdm/devices`)).status).to.equal(200);
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
