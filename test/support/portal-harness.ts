/**
 * The whole device-user stack for portal tests and the portal benchmark: the OIDC stand-in (Entra), the gateway
 * with identity-entra, mdm, enrollment-profiles, jit-registration, unenrollment, company-portal and web-clip, a
 * recording push plugin carrying a push topic (so setup is complete), one web-based enrollment profile for the
 * staff group, and a device limit of 1 for the "limited" group.
 *
 *   const portal = await startPortalHarness('label');
 *   const bob = await portal.signIn(portal.accounts.staff);   // an http client holding bob's session cookie
 *   const page = await bob.page('/');                          // { status, html, url }
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { PluginDefinition } from '../../core/sdk/index.js';
import { recordingPush, TEST_TOPIC, testAdminTokens } from './fixture-plugins.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { GRAPH_SCOPE, OidcStandin, type StandinAccount } from './oidc-standin.js';
import { TestBrowser } from './test-browser.js';

export const PORTAL_URL = 'https://gateway.test';
export const STAFF_GROUP = 'b0000000-0000-0000-0000-00000000057a';
export const LIMITED_GROUP = 'b0000000-0000-0000-0000-0000000011a1';
export const IOS_17 =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
export const IOS_14 =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 14_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.1.2 Mobile/15E148 Safari/604.1';
export const ANDROID =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36';
export const WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

export interface PortalPage {
  status: number;
  html: string;
  /** The last URL after redirects. */
  url: string;
  headers: Headers;
}

/** A signed-in browser over plain HTTP: cookies, redirects, and the iPhone User-Agent unless told otherwise. */
export class PortalClient {
  constructor(
    readonly browser: TestBrowser,
    public userAgent = IOS_17,
  ) {}

  async page(path: string): Promise<PortalPage> {
    let url = `${PORTAL_URL}${path}`;
    for (let hop = 0; hop < 15; hop++) {
      const res = await this.browser.request(url, { headers: { 'user-agent': this.userAgent, accept: 'text/html' } });
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        url = new URL(location, url).toString();
        continue;
      }
      return { status: res.status, html: await res.text(), url, headers: res.headers };
    }
    throw new Error(`too many redirects from ${path}`);
  }

  /** Posts a form; the response is not followed, so tests see the 303 and where it points. */
  post(path: string, fields: Record<string, string>): Promise<Response> {
    return this.browser.request(`${PORTAL_URL}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': this.userAgent },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** The CSRF token of the session, as the portal's forms carry it. */
  async csrf(): Promise<string> {
    return csrfOf((await this.page('/help')).html);
  }
}

export function csrfOf(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('the page has no CSRF field (not signed in?)');
  return match[1];
}

export interface PortalHarness {
  gw: TestGateway;
  standin: OidcStandin;
  woken: string[][];
  accounts: Record<'staff' | 'other' | 'noProfile' | 'limited' | 'oldPhone', StandinAccount>;
  client(userAgent?: string): PortalClient;
  /** Signs in through the stand-in (no form) and returns a client holding the session. */
  signIn(account: StandinAccount, userAgent?: string): Promise<PortalClient>;
  /** Another gateway process on the same database and Redis prefix (a second replica, or a worker). */
  replica(role: 'serve' | 'work' | 'all'): Promise<TestGateway>;
  /** The same browser session, talking to another replica. */
  on(replica: TestGateway, client: PortalClient): PortalClient;
  stop(): Promise<void>;
}

export interface PortalHarnessOptions {
  /** Config layered over the defaults (plugins.company-portal, plugins.web-clip …). */
  plugins?: Record<string, Record<string, unknown>>;
  extraPlugins?: readonly PluginDefinition[];
  enable?: readonly string[];
  /** Also run the unenrollment plugin (Remove device). */
  unenrollment?: boolean;
  /** The push certificate's topic; null = none installed (setup incomplete). */
  pushTopic?: string | null;
  /** Sign in through identity-entra's Entra provider (default) or the generic OpenID Connect plugin. */
  identityProvider?: 'entra' | 'oidc';
}

/** The identity plugins' config for the stand-in, as Entra or as a generic OpenID Connect provider. */
function identityPlugins(standin: OidcStandin, provider: 'entra' | 'oidc'): Record<string, Record<string, unknown>> {
  const sessionSecrets = [randomUUID() + randomUUID()];
  if (provider === 'oidc') {
    return {
      'identity-entra': { provider: 'oidc', sessionSecrets },
      'identity-oidc': {
        issuer: standin.issuer,
        clientId: standin.clientId,
        clientSecret: standin.clientSecret,
        tokenEndpointAuthMethod: 'client_secret_post',
      },
    };
  }
  return {
    'identity-entra': {
      tenantId: standin.tenantId,
      clientId: standin.clientId,
      clientSecret: standin.clientSecret,
      authority: standin.authority,
      graphUrl: standin.graphUrl,
      graphScope: GRAPH_SCOPE,
      sessionSecrets,
    },
  };
}

export async function startPortalHarness(label: string, options: PortalHarnessOptions = {}): Promise<PortalHarness> {
  const standin = await OidcStandin.start({ redirectUris: [`${PORTAL_URL}/auth/callback`] });
  const account = (upn: string, name: string, groups: string[]) =>
    standin.addAccount({ oid: randomUUID(), upn, name, groups });
  const accounts = {
    staff: account('bob@contoso.test', 'Bob Staff', [STAFF_GROUP]),
    other: account('mallory@contoso.test', 'Mallory Staff', [STAFF_GROUP]),
    noProfile: account('nora@contoso.test', 'Nora Noprofile', []),
    limited: account('lena@contoso.test', 'Lena Limited', [STAFF_GROUP, LIMITED_GROUP]),
    oldPhone: account('olga@contoso.test', 'Olga Oldphone', [STAFF_GROUP]),
  };
  const push = recordingPush({ topic: options.pushTopic === null ? undefined : (options.pushTopic ?? TEST_TOPIC) });
  const plugins = options.plugins ?? {};
  const provider = options.identityProvider ?? 'entra';
  const identity = identityPlugins(standin, provider);
  const gatewayOptions = {
    enable: options.enable ?? [
      'admin-access',
      'identity-entra',
      ...(provider === 'oidc' ? ['identity-oidc'] : []),
      'mdm',
      'enrollment-profiles',
      'jit-registration',
      ...(options.unenrollment ? ['unenrollment'] : []),
      'company-portal',
      'web-clip',
    ],
    plugins: [push.plugin, testAdminTokens, ...(options.extraPlugins ?? [])],
    config: {
      publicUrl: PORTAL_URL,
      http: { trustProxy: true },
      plugins: {
        ...plugins,
        ...identity,
        'identity-entra': { ...identity['identity-entra'], ...plugins['identity-entra'] },
        'jit-registration': { readinessAttempts: 30, readinessBackoffMs: 100, ...plugins['jit-registration'] },
        'enrollment-profiles': { refreshIntervalSeconds: 1, ...plugins['enrollment-profiles'] },
        'company-portal': {
          organizationName: 'Contoso',
          supportEmail: 'help@contoso.test',
          supportPhone: '+1 555 0100',
          liveRefreshSeconds: 1,
          ...plugins['company-portal'],
        },
      },
    },
  };
  const gw = await startTestGateway({ label, ...gatewayOptions });
  const admin = async (path: string, body: unknown) => {
    const res = await gw.fetch(path, {
      method: 'POST',
      headers: { authorization: 'Bearer admin-all', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status, `${path}: ${await res.clone().text()}`).to.equal(201);
  };
  const client = (userAgent?: string) => new PortalClient(new TestBrowser(PORTAL_URL, gw.url), userAgent);
  const signIn = async (who: StandinAccount, userAgent?: string) => {
    const c = client(userAgent);
    standin.autoLogin = who.oid;
    const landed = await c.page(`/auth/signin?returnTo=${encodeURIComponent('/help')}`);
    expect(landed.url, 'sign-in should end on the portal').to.equal(`${PORTAL_URL}/help`);
    expect(landed.status).to.equal(200);
    return c;
  };
  if ((options.enable ?? ['enrollment-profiles']).includes('enrollment-profiles')) {
    // Assignments may only name groups the directory knows: a member of each signs in first.
    await signIn(accounts.limited);
    await admin('/api/enrollment-profiles', {
      name: 'Staff phones',
      enrollmentType: 'web-based',
      assignments: { includedGroups: [STAFF_GROUP] },
    });
    await admin('/api/device-limit-policies', { name: 'One device', groups: [LIMITED_GROUP], limit: 1, priority: 1 });
  }
  return {
    gw,
    standin,
    woken: push.woken,
    accounts,
    client,
    signIn,
    replica: (role) =>
      startTestGateway({
        label: `${label}r`,
        ...gatewayOptions,
        role,
        mongodbUri: gw.mongodbUri,
        redisPrefix: gw.redisPrefix,
      }),
    on(replica, from) {
      const browser = new TestBrowser(PORTAL_URL, replica.url);
      for (const [name, value] of from.browser.cookiesOf(PORTAL_URL)) browser.setCookie(PORTAL_URL, name, value);
      return new PortalClient(browser, from.userAgent);
    },
    async stop() {
      await gw.stop();
      await standin.stop();
    },
  };
}

export interface ServerSentEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads a text/event-stream response until `done(events)` holds (then cancels it) or the time is up. */
export async function readEvents(
  res: Response,
  done: (events: ServerSentEvent[]) => boolean,
  timeoutMs = 15_000,
): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const timer = setTimeout(() => void reader.cancel().catch(() => undefined), timeoutMs);
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => undefined);
  }
  return events;
}
