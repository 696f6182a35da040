import { randomUUID } from 'node:crypto';
import { recordingPush } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { OidcStandin, type StandinAccount } from '../../../test/support/oidc-standin.js';
import { TestBrowser } from '../../../test/support/test-browser.js';

export const PUBLIC_URL = 'https://gateway.test';
export const STAFF_GROUP = 'staff';
export const ADMIN_GROUP = 'gateway-admins';

export interface OidcFixture {
  standin: OidcStandin;
  gw: TestGateway;
  accounts: Record<'admin' | 'groupAdmin' | 'user' | 'noGroups', StandinAccount>;
  browser(): TestBrowser;
  /** Follows the sign-in up to the provider's redirect back to us and returns that callback URL, not yet visited. */
  callbackUrl(browser: TestBrowser, account: StandinAccount, returnTo?: string): Promise<URL>;
  signIn(account: StandinAccount, returnTo?: string): Promise<{ browser: TestBrowser; final: Response; url: string }>;
  stop(): Promise<void>;
}

/** The gateway with identity-entra as the session host and identity-oidc as its provider, against the stand-in. */
export async function startOidcFixture(
  label: string,
  oidcConfig: Record<string, unknown> = {},
  identityConfig: Record<string, unknown> = {},
): Promise<OidcFixture> {
  const standin = await OidcStandin.start({ redirectUris: [`${PUBLIC_URL}/auth/callback`] });
  const accounts = {
    admin: standin.addAccount({
      oid: randomUUID(),
      upn: 'alice@example.test',
      name: 'Alice Admin',
      roles: ['Gateway.Admin'],
      groups: [STAFF_GROUP],
    }),
    groupAdmin: standin.addAccount({
      oid: randomUUID(),
      upn: 'erin@example.test',
      name: 'Erin Groupadmin',
      groups: [ADMIN_GROUP],
    }),
    user: standin.addAccount({ oid: randomUUID(), upn: 'bob@example.test', name: 'Bob User', groups: [STAFF_GROUP] }),
    noGroups: standin.addAccount({ oid: randomUUID(), upn: 'dave@example.test', name: 'Dave', omitGroups: true }),
  };
  const gw = await startTestGateway({
    label,
    enable: ['admin-access', 'identity-entra', 'identity-oidc', 'mdm', 'enrollment-profiles', 'admin-center'],
    plugins: [recordingPush().plugin],
    config: {
      publicUrl: PUBLIC_URL,
      http: { trustProxy: true },
      plugins: {
        'identity-entra': {
          provider: 'oidc',
          sessionSecrets: [randomUUID() + randomUUID()],
          adminGroups: [ADMIN_GROUP],
          ...identityConfig,
        },
        'identity-oidc': {
          issuer: standin.issuer,
          clientId: standin.clientId,
          clientSecret: standin.clientSecret,
          tokenEndpointAuthMethod: 'client_secret_post',
          ...oidcConfig,
        },
      },
    },
  });
  const browser = () => new TestBrowser(PUBLIC_URL, gw.url);
  const callbackUrl = async (b: TestBrowser, account: StandinAccount, returnTo = '/auth/me') => {
    standin.autoLogin = account.oid;
    let current = `${PUBLIC_URL}/auth/signin?returnTo=${encodeURIComponent(returnTo)}`;
    for (let i = 0; i < 15; i++) {
      const response = await b.request(current);
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!location) throw new Error(`sign-in stopped at ${current} with ${response.status}`);
      current = new URL(location, current).toString();
      if (current.startsWith(`${PUBLIC_URL}/auth/callback`)) return new URL(current);
    }
    throw new Error('the provider never redirected back');
  };
  return {
    standin,
    gw,
    accounts,
    browser,
    callbackUrl,
    async signIn(account, returnTo = '/auth/me') {
      const b = browser();
      const callback = await callbackUrl(b, account, returnTo);
      const { response, url } = await b.navigate(callback.toString());
      return { browser: b, final: response, url };
    },
    async stop() {
      await gw.stop();
      await standin.stop();
    },
  };
}
