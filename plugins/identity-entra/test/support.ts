import { randomUUID } from 'node:crypto';
import { recordingPush } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { OidcStandin, type StandinAccount } from '../../../test/support/oidc-standin.js';
import { TestBrowser } from '../../../test/support/test-browser.js';

export const PUBLIC_URL = 'https://gateway.test';
export const ADMIN_GROUP = 'a0000000-0000-0000-0000-00000000ad01';
export const STAFF_GROUP = 'a0000000-0000-0000-0000-00000000057a';

export interface IdentityFixture {
  standin: OidcStandin;
  gw: TestGateway;
  accounts: Record<'admin' | 'groupAdmin' | 'user' | 'overage' | 'noGroups' | 'otherTenant', StandinAccount>;
  browser(): TestBrowser;
  /** Signs `account` in through the real redirects and returns the browser holding the session. */
  signIn(account: StandinAccount, returnTo?: string): Promise<{ browser: TestBrowser; final: Response; url: string }>;
  stop(): Promise<void>;
}

export async function startIdentityFixture(
  label: string,
  extraConfig: Record<string, unknown> = {},
  coreConfig: Record<string, unknown> = {},
): Promise<IdentityFixture> {
  const standin = await OidcStandin.start({ redirectUris: [`${PUBLIC_URL}/auth/callback`] });
  const overageGroups = Array.from(
    { length: 230 },
    (_, i) => `0000${i.toString(16).padStart(4, '0')}-0000-0000-0000-000000000000`,
  );
  const accounts = {
    admin: standin.addAccount({
      oid: randomUUID(),
      upn: 'alice@contoso.test',
      name: 'Alice Admin',
      roles: ['Gateway.Admin'],
      groups: [STAFF_GROUP],
    }),
    groupAdmin: standin.addAccount({
      oid: randomUUID(),
      upn: 'erin@contoso.test',
      name: 'Erin Groupadmin',
      groups: [ADMIN_GROUP],
    }),
    user: standin.addAccount({ oid: randomUUID(), upn: 'bob@contoso.test', name: 'Bob User', groups: [STAFF_GROUP] }),
    overage: standin.addAccount({
      oid: randomUUID(),
      upn: 'carol@contoso.test',
      name: 'Carol Many',
      groups: overageGroups,
      overage: true,
    }),
    noGroups: standin.addAccount({
      oid: randomUUID(),
      upn: 'dave@contoso.test',
      name: 'Dave Nogroups',
      omitGroups: true,
    }),
    otherTenant: standin.addAccount({
      oid: randomUUID(),
      upn: 'mallory@fabrikam.test',
      name: 'Mallory',
      tid: randomUUID(),
      groups: [],
    }),
  };
  const gw = await startTestGateway({
    label,
    enable: ['admin-access', 'identity-entra', 'mdm'],
    plugins: [recordingPush().plugin],
    config: {
      publicUrl: PUBLIC_URL,
      http: { trustProxy: true },
      ...coreConfig,
      plugins: {
        'identity-entra': {
          ...standin.entraConfig(),
          adminGroups: [ADMIN_GROUP],
          ...extraConfig,
        },
      },
    },
  });
  const browser = () => new TestBrowser(PUBLIC_URL, gw.url);
  return {
    standin,
    gw,
    accounts,
    browser,
    async signIn(account, returnTo = '/auth/me') {
      const b = browser();
      standin.autoLogin = account.oid;
      const { response, url } = await b.navigate(`${PUBLIC_URL}/auth/signin?returnTo=${encodeURIComponent(returnTo)}`);
      return { browser: b, final: response, url };
    },
    async stop() {
      await gw.stop();
      await standin.stop();
    },
  };
}

export const auditEntries = async (gw: TestGateway, action: string) => {
  const mongoose = await import('mongoose');
  const conn = await mongoose.createConnection(gw.mongodbUri).asPromise();
  try {
    return await conn.collection('audit_log').find({ action }).toArray();
  } finally {
    await conn.close();
  }
};
