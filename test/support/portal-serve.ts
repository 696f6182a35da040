/**
 * The portal stack of portal-harness.ts in a process of its own, for `npm run bench -- portal`: it signs USERS
 * staff users in through the OIDC stand-in (which needs NODE_EXTRA_CA_CERTS, read only at process start) and
 * prints one line, `portal ready <gateway url> <JSON array of Cookie headers>`, then serves until SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { PORTAL_URL, STAFF_GROUP, startPortalHarness } from './portal-harness.js';

const users = Number(process.env.USERS ?? 50);
const portal = await startPortalHarness('benchportal');
const cookies: string[] = [];
for (let i = 0; i < users; i++) {
  const account = portal.standin.addAccount({
    oid: randomUUID(),
    upn: `user${i}@contoso.test`,
    name: `Bench User ${i}`,
    groups: [STAFF_GROUP],
  });
  const client = await portal.signIn(account);
  cookies.push([...client.browser.cookiesOf(PORTAL_URL)].map(([name, value]) => `${name}=${value}`).join('; '));
}
console.log(`portal ready ${portal.gw.url} ${JSON.stringify(cookies)}`);
await once(process, 'SIGTERM');
await portal.stop();
process.exit(0);
