import { expect } from 'chai';
import { type OidcFixture, PUBLIC_URL, STAFF_GROUP, startOidcFixture } from './support.js';

/** With an OpenID Connect provider there is no directory API: the group picker searches the claim history. */
describe('identity-oidc: group picker searches the groups seen at sign-in', function () {
  this.timeout(60_000);
  let fx: OidcFixture;
  before(async () => {
    fx = await startOidcFixture('oidcpick');
    // A group only the Graph stand-in knows: an OIDC provider never asks Graph, so it must not be found.
    fx.standin.directoryGroups.set('staffing-agency', 'Staffing agency');
  });
  after(() => fx?.stop());

  it('finds a group once a member signed in with it, matched by name, and not before', async () => {
    const admin = await fx.signIn(fx.accounts.admin);
    expect(admin.final.status).to.equal(200);
    const search = async (q: string) => {
      const res = await admin.browser.request(`${PUBLIC_URL}/api/enrollment-profiles/groups?q=${q}`);
      expect(res.status).to.equal(200);
      return (await res.json()) as { items: { id: string; source: string }[]; searchable: boolean };
    };
    expect(await search('STA')).to.deep.equal({ items: [{ id: STAFF_GROUP, source: 'sign-ins' }], searchable: true });
    expect((await search('admins')).items).to.deep.equal([]);
    expect((await fx.signIn(fx.accounts.groupAdmin)).final.status).to.equal(200);
    expect((await search('admins')).items.map((g) => g.id)).to.deep.equal(['gateway-admins']);
  });
});
