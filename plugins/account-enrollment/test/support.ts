import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { PluginDefinition } from 'enrollment-gateway/sdk';
import { AccountDrivenDevice, type AccountDrivenOptions } from '../../../test/support/device-simulator-adde.js';
import {
  LIMITED_GROUP,
  PORTAL_URL,
  type PortalClient,
  type PortalHarness,
  startPortalHarness,
} from '../../../test/support/portal-harness.js';

export const ADDE_GROUP = 'b0000000-0000-0000-0000-0000000adde1';
export const CALLBACK = 'apple-remotemanagement-user-login:';

/**
 * The portal harness with account-enrollment for contoso.test, unenrollment, and an account-driven profile (priority
 * 1) for the ADDE group, whose member is ada@contoso.test. Bob (staff) keeps the web-based profile.
 */
export async function startAccountHarness(
  label: string,
  options: { plugins?: Record<string, Record<string, unknown>>; extraPlugins?: readonly PluginDefinition[] } = {},
) {
  const portal = await startPortalHarness(label, {
    unenrollment: true,
    extraPlugins: options.extraPlugins,
    enable: [
      'admin-access',
      'identity-entra',
      'mdm',
      'enrollment-profiles',
      'jit-registration',
      'unenrollment',
      'company-portal',
      'web-clip',
      'account-enrollment',
    ],
    plugins: {
      'account-enrollment': { domains: ['contoso.test'] },
      unenrollment: { pollIntervalMs: 100, acknowledgementTimeoutMs: 20_000 },
      ...options.plugins,
    },
  });
  const ada = portal.standin.addAccount({
    oid: randomUUID(),
    upn: 'ada@contoso.test',
    name: 'Ada Adde',
    groups: [ADDE_GROUP],
  });
  // Under the "One device" limit policy of the harness.
  const leo = portal.standin.addAccount({
    oid: randomUUID(),
    upn: 'leo@contoso.test',
    name: 'Leo Limited',
    groups: [ADDE_GROUP, LIMITED_GROUP],
  });
  // The directory learns the group from a member's sign-in before a profile may name it.
  await portal.signIn(ada);
  const res = await portal.gw.fetch('/api/enrollment-profiles', {
    method: 'POST',
    headers: { authorization: 'Bearer admin-all', 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Personal phones (Settings)',
      enrollmentType: 'account-driven',
      priority: 1,
      assignments: { includedGroups: [ADDE_GROUP] },
    }),
  });
  expect(res.status, await res.clone().text()).to.equal(201);
  return { portal, ada, leo };
}

/** Follows redirects in the test browser until the sign-in hands Settings its callback URL. */
export async function followToCallback(client: PortalClient, url: string): Promise<string> {
  let next = url;
  for (let hop = 0; hop < 15; hop++) {
    if (next.startsWith(CALLBACK)) return next;
    const res = await client.browser.request(next, {
      headers: { 'user-agent': client.userAgent, accept: 'text/html' },
    });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      next = location.startsWith(CALLBACK) ? location : new URL(location, next).toString();
      continue;
    }
    const page = /<body data-page="([^"]+)"/.exec(await res.text())?.[1];
    return `page:${res.status}:${page}`;
  }
  throw new Error(`too many redirects from ${url}`);
}

/** A simulated device whose web view is `client` (already signed in, or signing in through the stand-in). */
export function accountDevice(
  portal: PortalHarness,
  client: PortalClient,
  options: Partial<AccountDrivenOptions> & { userIdentifier: string },
): Promise<AccountDrivenDevice> {
  return AccountDrivenDevice.create({
    baseUrl: portal.gw.url,
    publicUrl: PORTAL_URL,
    webAuthenticate: (url) => followToCallback(client, url),
    ...options,
  });
}
