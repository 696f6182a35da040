import { expect } from 'chai';
import { IdentityRefusedError } from 'enrollment-gateway/sdk';
import { claimAt, identityFromClaims } from '../src/claims.js';
import { refusalFor } from '../src/oidc-provider.js';

const defaults = { usernameClaim: 'preferred_username', groupsClaim: 'groups', rolesClaim: 'roles' };

describe('identity-oidc: claims', () => {
  it('reads nested claims by dotted path (Keycloak realm roles) and literal dotted names (Auth0 namespaces)', () => {
    const claims = { realm_access: { roles: ['gateway-admin'] }, 'https://example.com/groups': ['g1'] };
    expect(claimAt(claims, 'realm_access.roles')).to.deep.equal(['gateway-admin']);
    expect(claimAt(claims, 'https://example.com/groups')).to.deep.equal(['g1']);
    expect(claimAt(claims, 'realm_access.missing')).to.equal(undefined);
  });

  it('maps Keycloak-shaped claims with configured paths', () => {
    const identity = identityFromClaims(
      { sub: 's1', email: 'kim@example.test', groups: '/staff', realm_access: { roles: ['gateway-admin', 7] } },
      { ...defaults, rolesClaim: 'realm_access.roles' },
      { requireGroups: true },
    );
    expect(identity).to.deep.equal({
      subject: 's1',
      username: 'kim@example.test',
      displayName: 'kim@example.test',
      groups: ['/staff'],
      roles: ['gateway-admin'],
    });
  });

  it('refuses tokens without sub, and without groups when they are required', () => {
    expect(() => identityFromClaims({ name: 'x' }, defaults, { requireGroups: false })).to.throw(IdentityRefusedError);
    try {
      identityFromClaims({ sub: 's' }, defaults, { requireGroups: true });
      expect.fail('should refuse');
    } catch (error) {
      expect((error as IdentityRefusedError).refusal).to.equal('missing_groups');
    }
    expect(identityFromClaims({ sub: 's' }, defaults, { requireGroups: false }).groups).to.deep.equal([]);
  });

  it("maps the library's messages to refusals", () => {
    expect(refusalFor('unexpected "state" response parameter value')).to.equal('invalid_state');
    expect(refusalFor('unexpected ID Token "nonce" claim value')).to.equal('invalid_token');
    expect(refusalFor('JWT signature verification failed')).to.equal('tampered_token');
    expect(refusalFor('unexpected JWT "aud" (audience) claim value')).to.equal('wrong_audience');
    expect(refusalFor('"exp" claim timestamp check failed')).to.equal('expired_token');
    expect(refusalFor('fetch failed')).to.equal('provider_error');
  });
});
