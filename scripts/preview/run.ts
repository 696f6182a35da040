/** The preview's parts, started in order and stopped in reverse (see scripts/preview.ts). */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:https';
import path from 'node:path';
import pino from 'pino';
import { type Gateway, loadGateway } from '../../core/gateway.js';
import { listBuiltInPlugins } from '../../core/plugins/discover.js';
import type { CliIO } from '../../core/sdk/index.js';
import { recordingPush, TEST_TOPIC } from '../../test/support/fixture-plugins.js';
import { OidcStandin } from '../../test/support/oidc-standin.js';
import { TestBrowser } from '../../test/support/test-browser.js';
import { issueTestLeaf } from '../../test/support/test-tls.js';
import { ensureLocalServices, stopLocalServices } from '../lib/local-services.js';
import { PreviewFleet } from './devices.js';
import { previewRoutes, SIMULATE_PATH } from './simulate.js';
import { spkiHash, startTlsFront } from './tls.js';

export interface PreviewOptions {
  port: number;
  devices: number;
  caFile: string;
  sessionSecret: string;
  /** Where the gateway's log goes; default .cache/preview/gateway.log. */
  logFile?: string;
  print?: (line: string) => void;
}

export interface RunningPreview {
  publicUrl: string;
  inviteLink: string;
  apiKey: string;
  users: { email: string; groups: string[]; admin: boolean }[];
  spki: string;
  gateway: Gateway;
  fleet: PreviewFleet;
  stop(): Promise<void>;
}

const ENABLED = [
  'admin-access',
  'admin-passkeys',
  'admin-center',
  'identity-entra',
  'identity-oidc',
  'mdm',
  'enrollment-profiles',
  'company-portal',
  'web-clip',
  'compliance',
  'unenrollment',
];

const DEMO_USERS = [
  { email: 'alex@demo.test', name: 'Alex Rivera', groups: ['Staff', 'Sales'], admin: false },
  { email: 'sam@demo.test', name: 'Sam Chen', groups: ['Staff', 'Engineering'], admin: false },
  { email: 'pat@demo.test', name: 'Pat Admin', groups: ['Staff', 'IT'], admin: true },
];

/** Runs a plugin's CLI command in this process and answers what it printed on stdout. */
async function command(gateway: Gateway, words: string, args: string[]): Promise<string> {
  const found = gateway.commands().find((c) => c.command.name === words);
  if (!found) throw new Error(`no "${words}" command: is its plugin enabled?`);
  const out: string[] = [];
  const io: CliIO = { out: (line) => out.push(line), err: () => {} };
  const code = await found.command.run(args, gateway.context(found.plugin), io);
  if (code) throw new Error(`gateway ${words} exited with ${code}`);
  return out.join('\n');
}

export async function runPreview(options: PreviewOptions): Promise<RunningPreview> {
  const print = options.print ?? ((line: string) => console.log(line));
  const publicUrl = `https://localhost:${options.port}`;
  const services = await ensureLocalServices();
  const database = new URL(services.mongodbUri);
  database.pathname = `/gateway_preview_${Date.now()}`;

  const standin = await OidcStandin.start({ redirectUris: [`${publicUrl}/auth/callback`] });
  const users = DEMO_USERS.map((u) => ({
    ...u,
    account: standin.addAccount({
      oid: randomUUID(),
      upn: u.email,
      name: u.name,
      groups: u.groups,
      roles: u.admin ? ['Gateway.Admin'] : [],
    }),
  }));

  const logFile = options.logFile ?? path.join(process.cwd(), '.cache', 'preview', 'gateway.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  const push = recordingPush({ topic: TEST_TOPIC });
  const gateway = await loadGateway({
    role: 'all',
    env: { MONGODB_URI: database.toString(), REDIS_URL: services.redisUrl },
    overrides: {
      publicUrl,
      organizationName: 'Demo Organization',
      http: { host: '127.0.0.1', port: 0, trustProxy: true },
      ops: { host: '127.0.0.1', port: 0 },
      redis: { prefix: `preview-${randomBytes(3).toString('hex')}` },
      security: { masterKey: randomBytes(32).toString('base64') },
      log: { level: 'info' },
      plugins: {
        ...Object.fromEntries(listBuiltInPlugins().map((name) => [name, { enabled: ENABLED.includes(name) }])),
        apns: { enabled: true },
        'identity-entra': {
          enabled: true,
          provider: 'oidc',
          sessionSecrets: [options.sessionSecret],
          adminRoles: ['Gateway.Admin'],
        },
        'identity-oidc': {
          enabled: true,
          issuer: standin.issuer,
          clientId: standin.clientId,
          clientSecret: standin.clientSecret,
          tokenEndpointAuthMethod: 'client_secret_post',
        },
        'enrollment-profiles': { enabled: true, refreshIntervalSeconds: 2 },
        'company-portal': { enabled: true, previewSimulatePath: SIMULATE_PATH },
      },
    },
    plugins: [push.plugin],
    logger: pino({ level: 'info' }, pino.destination({ dest: logFile, sync: false })),
  });
  await gateway.start();

  const leaf = issueTestLeaf(['localhost', '127.0.0.1']);
  const onError = (error: Error) => gateway.logger.warn({ err: error }, 'preview device failed');
  let started: PreviewFleet | undefined;
  const front: Server = await startTlsFront({
    port: options.port,
    cert: leaf.cert,
    key: leaf.key,
    target: gateway.url,
    routes: previewRoutes({ gatewayUrl: gateway.url, fleet: () => started, onError }),
  });

  const apiKey = await command(gateway, 'admin create-api-key', ['--name', 'preview', '--scopes', '*']);
  const inviteLink = await command(gateway, 'admin invite', ['admin@demo.test', '--role', 'full']);
  const admin = (p: string, body: unknown) =>
    fetch(`${gateway.url}${p}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (res) => {
      if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    });
  await admin('/api/enrollment-profiles', {
    name: 'Demo iPhones and iPads',
    description: 'Everyone in the demo organization',
    enrollmentType: 'web-based',
    assignments: { allUsers: true },
  });

  // Each demo user signs in once through the real sign-in, so the directory knows them and their groups.
  for (const user of users) {
    standin.autoLogin = user.account.oid;
    const browser = new TestBrowser(publicUrl, gateway.url);
    const { url } = await browser.navigate(`${publicUrl}/auth/signin?returnTo=%2F`);
    if (!url.startsWith(publicUrl)) throw new Error(`demo sign-in of ${user.email} ended at ${url}`);
  }
  standin.autoLogin = undefined;

  const fleet = new PreviewFleet(gateway.url, publicUrl);
  for (let i = 0; i < options.devices; i++) {
    const owner = users[i % 2].account;
    const { profileUrl } = await admin('/api/mdm/enrollments', { userId: owner.oid });
    await fleet.enrollWithLink(String(profileUrl));
  }
  // An iPhone tells its name only when asked (DeviceInformation): ask each new device once, as "Refresh
  // information" in the admin center does, so the lists show names. Devices answer at their next check-in.
  const asked = new Set<string>();
  const askNewDevices = async () => {
    const res = await fetch(`${gateway.url}/api/mdm/devices?limit=100`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    const { items } = (await res.json()) as { items: { id: string; deviceName?: string | null }[] };
    for (const device of items.filter((d) => !d.deviceName && !asked.has(d.id))) {
      asked.add(device.id);
      await admin(`/api/mdm/devices/${device.id}/refresh`, {});
    }
  };
  await askNewDevices();
  await Promise.all(fleet.devices.map((d) => d.poll()));
  started = fleet;
  fleet.keepCheckingIn(5_000, onError, () => askNewDevices().catch(onError));

  const spki = spkiHash(leaf.cert);
  const summary = users.map((u) => ({ email: u.email, groups: u.groups, admin: u.admin }));
  print(`
Enrollment Gateway preview is running.

  Admin center   ${publicUrl}/admin
                 first administrator: open this one-time link and create a passkey
                 ${inviteLink}
                 (or sign in as pat@demo.test, an admin at the demo sign-in provider)
  Company Portal ${publicUrl}/
                 demo users (type the email at the demo sign-in, no password): ${DEMO_USERS.map((u) => u.email).join(', ')}
                 any browser works: "Simulate this device" on the Enroll page enrolls a simulated iPhone
  API key        ${apiKey}   (Authorization: Bearer …, every scope)
  Devices        ${fleet.devices.length} simulated devices enrolled; they check in every 5 s

  The certificate is issued by a local preview CA (${options.caFile}); your browser will warn once.
  Gateway log: ${logFile}. Ctrl-C stops everything.
`);
  print(
    JSON.stringify({
      adminUrl: `${publicUrl}/admin`,
      portalUrl: `${publicUrl}/`,
      inviteLink,
      users: summary,
      caFile: options.caFile,
      spki,
    }),
  );

  return {
    publicUrl,
    inviteLink,
    apiKey,
    users: summary,
    spki,
    gateway,
    fleet,
    async stop() {
      fleet.stop();
      front.closeAllConnections();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await gateway.stop();
      await standin.stop();
      stopLocalServices();
    },
  };
}
