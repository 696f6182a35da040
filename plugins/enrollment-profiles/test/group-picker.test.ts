import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { OidcStandin } from '../../../test/support/oidc-standin.js';
import { TestBrowser } from '../../../test/support/test-browser.js';
import { call } from './helpers.js';

const PUBLIC_URL = 'https://gateway.test';
const SEEN_GROUP = 'b0000000-0000-0000-0000-0000005ee001';
const SALES = 'c0000000-0000-0000-0000-00000000a1e5';
const SALES_EMEA = 'c0000000-0000-0000-0000-00000000e3ea';
const FINANCE = 'c0000000-0000-0000-0000-00000000f1aa';

interface SearchBody {
  items: { id: string; displayName?: string; source: string }[];
  searchable: boolean;
}

/** Group pickers against the real identity-entra, whose Graph is the stand-in's (never a stub of our code). */
describe('enrollment-profiles: group picker searches the directory (Entra: Microsoft Graph)', function () {
  this.timeout(60_000);
  let standin: OidcStandin;
  let gw: TestGateway;

  before(async () => {
    standin = await OidcStandin.start({ redirectUris: [`${PUBLIC_URL}/auth/callback`] });
    standin.directoryGroups.set(SALES, 'Sales "West"');
    standin.directoryGroups.set(SALES_EMEA, 'Sales EMEA');
    standin.directoryGroups.set(FINANCE, 'Finance');
    const user = standin.addAccount({ oid: randomUUID(), upn: 'bob@contoso.test', name: 'Bob', groups: [SEEN_GROUP] });
    gw = await startTestGateway({
      label: 'eppick',
      enable: ['admin-access', 'identity-entra', 'enrollment-profiles'],
      plugins: [testAdminTokens],
      config: {
        publicUrl: PUBLIC_URL,
        http: { trustProxy: true },
        plugins: {
          'identity-entra': {
            enabled: true,
            ...standin.entraConfig(),
          },
        },
      },
    });
    // A real sign-in records SEEN_GROUP in the claim history.
    standin.autoLogin = user.oid;
    const { response } = await new TestBrowser(PUBLIC_URL, gw.url).navigate(
      `${PUBLIC_URL}/auth/signin?returnTo=/auth/me`,
    );
    expect(response.status).to.equal(200);
  });
  after(async () => {
    await gw?.stop();
    await standin?.stop();
  });

  const search = (q: string, token?: string) =>
    call<SearchBody>(gw, 'GET', `/api/enrollment-profiles/groups?q=${encodeURIComponent(q)}`, undefined, { token });

  it('finds groups by display name in Graph, with ConsistencyLevel: eventual and an app-only token', async () => {
    const res = await search('sales');
    expect(res.status).to.equal(200);
    expect(res.body.searchable).to.equal(true);
    expect(res.body.items).to.have.deep.members([
      { id: SALES, displayName: 'Sales "West"', source: 'directory' },
      { id: SALES_EMEA, displayName: 'Sales EMEA', source: 'directory' },
    ]);
    // A quote in the query is escaped for $search, not breaking it.
    expect((await search('"west')).body.items.map((g) => g.id)).to.deep.equal([SALES]);
  });

  it('adds groups seen in sign-in claims, matched by id', async () => {
    const res = await search('5ee0');
    expect(res.status).to.equal(200);
    expect(res.body.items).to.deep.equal([{ id: SEEN_GROUP, source: 'sign-ins' }]);
  });

  it('refuses bad queries (400) and readers without profiles:read (403)', async () => {
    expect((await search('')).status).to.equal(400);
    expect((await search('x'.repeat(121))).status).to.equal(400);
    expect((await search('sales', 'reader')).status).to.equal(403);
  });

  it('accepts a group no one signed in with when Graph confirms it; refuses one Graph does not know', async () => {
    const ok = await call(gw, 'POST', '/api/enrollment-profiles', {
      name: 'Finance phones',
      enrollmentType: 'web-based',
      assignments: { allUsers: false, includedGroups: [FINANCE, SEEN_GROUP], excludedGroups: [] },
    });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
    const ghost = randomUUID();
    const refused = await call(gw, 'POST', '/api/enrollment-profiles', {
      name: 'Ghost group',
      enrollmentType: 'web-based',
      assignments: { allUsers: false, includedGroups: [ghost], excludedGroups: [] },
    });
    expect(refused.status).to.equal(400);
    expect(JSON.stringify(refused.body)).to.include(ghost);
    const names = (await call<{ items: { name: string }[] }>(gw, 'GET', '/api/enrollment-profiles')).body.items;
    expect(names.map((p) => p.name)).to.deep.equal(['Finance phones']);
  });
});
