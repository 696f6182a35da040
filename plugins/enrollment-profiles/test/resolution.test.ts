import { expect } from 'chai';
import {
  DEVICE_LIMIT_MESSAGE,
  type DeviceClientHints,
  type DeviceRecord,
  deviceHintsFrom,
  type ProfileResolver,
  parseDeviceUserAgent,
  profileResolverRef,
  type ResolutionOutcome,
} from 'enrollment-gateway/sdk';
import {
  fixtureDeviceDirectory,
  fixtureUserDirectory,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { type CompiledProfile, compileProfile, countsTowardLimit, matchProfile } from '../src/matching.js';
import { ago, call, createProfile, DAY, UA, user } from './helpers.js';

describe('enrollment-profiles: User-Agent parsing', () => {
  const cases: { name: string; ua: string; hints?: DeviceClientHints; platform: string; osVersion?: string }[] = [
    { name: 'iPhone iOS 14.8', ua: UA.ios148, platform: 'iOS', osVersion: '14.8' },
    { name: 'iPhone iOS 15.0', ua: UA.ios150, platform: 'iOS', osVersion: '15.0' },
    { name: 'iPhone iOS 17.4.1', ua: UA.ios1741, platform: 'iOS', osVersion: '17.4.1' },
    { name: 'Chrome on iOS', ua: UA.iosChrome, platform: 'iOS', osVersion: '17.4' },
    { name: 'iPad mobile site', ua: UA.ipadMobile, platform: 'iPadOS', osVersion: '16.6' },
    {
      name: 'iPadOS desktop UA + touch',
      ua: UA.ipadDesktop17,
      hints: { touch: true },
      platform: 'iPadOS',
      osVersion: '17.4',
    },
    {
      name: 'iPadOS desktop UA + iPad hint',
      ua: UA.ipadDesktop17,
      hints: { ipad: true },
      platform: 'iPadOS',
      osVersion: '17.4',
    },
    { name: 'Macintosh without hints', ua: UA.ipadDesktop17, platform: 'macOS', osVersion: '10.15.7' },
    { name: 'Android', ua: UA.android, platform: 'android', osVersion: '14' },
    { name: 'Windows', ua: UA.windows, platform: 'windows', osVersion: '10.0' },
    { name: 'curl', ua: UA.unknown, platform: 'unknown' },
    { name: 'empty', ua: '', platform: 'unknown' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.platform} ${c.osVersion ?? ''}`, () => {
      const parsed = parseDeviceUserAgent(c.ua, c.hints);
      expect(parsed.platform).to.equal(c.platform);
      expect(parsed.osVersion).to.equal(c.osVersion);
    });
  }

  it('reads the touch hint from the query or a cookie, and nothing else', () => {
    expect(deviceHintsFrom({ touch: '1' })).to.deep.equal({ touch: true, ipad: false });
    expect(deviceHintsFrom({}, 'a=b; touch=1')).to.deep.equal({ touch: true, ipad: false });
    expect(deviceHintsFrom({}, 'device=ipad')).to.deep.equal({ touch: false, ipad: true });
    expect(deviceHintsFrom({ touch: '0' }, 'touch=1')).to.deep.equal({ touch: false, ipad: false });
    expect(deviceHintsFrom({}, 'notouch=1')).to.deep.equal({ touch: false, ipad: false });
  });
});

describe('enrollment-profiles: matching and the device count (pure)', () => {
  const p = (priority: number, over: Partial<CompiledProfile>): CompiledProfile =>
    compileProfile(
      {
        id: `p${priority}`,
        name: `P${priority}`,
        enrollmentType: 'web-based',
        allUsers: false,
        includedGroups: [],
        excludedGroups: [],
        ...over,
      },
      priority,
    );
  const profiles = [
    p(1, { includedGroups: ['vip'], excludedGroups: ['contractors'] }),
    p(2, { allUsers: true, excludedGroups: ['blocked'] }),
  ];

  it('explains every higher profile it skipped and the assignment that matched', () => {
    const result = matchProfile(profiles, new Set(['vip', 'contractors']));
    expect(result.profile?.id).to.equal('p2');
    expect(result.reasons).to.deep.equal([
      'priority 1 "P1" skipped: the user is in its excluded group contractors',
      'priority 2 "P2" applies: assigned to all users',
    ]);
    expect(matchProfile(profiles, new Set(['blocked'])).reasons.at(-1)).to.equal('no profile is assigned to the user');
    expect(matchProfile([], new Set()).reasons).to.deep.equal(['no enrollment profiles exist']);
  });

  const now = Date.now();
  const device = (over: Partial<DeviceRecord>): DeviceRecord => ({
    id: 'd',
    udid: 'u',
    state: 'enrolled',
    pushable: true,
    managedApps: [],
    installedProfiles: [],
    ...over,
  });
  const rows: [string, Partial<DeviceRecord>, boolean][] = [
    ['enrolled, seen today', { lastSeenAt: ago(0) }, true],
    ['enrolled, seen 89 days ago', { lastSeenAt: ago(89 * DAY) }, true],
    ['enrolled, seen 91 days ago', { lastSeenAt: ago(91 * DAY) }, false],
    ['enrolled, never seen since enrolling 10 days ago', { enrolledAt: ago(10 * DAY) }, true],
    ['retired', { state: 'retired', lastSeenAt: ago(0) }, false],
    ['retiring', { state: 'retiring', lastSeenAt: ago(0) }, false],
    ['checked out', { state: 'checked-out', lastSeenAt: ago(0) }, false],
    ['pending for 23 hours', { state: 'pending', createdAt: ago(23 * 3_600_000) }, true],
    ['pending for 25 hours', { state: 'pending', createdAt: ago(25 * 3_600_000) }, false],
  ];
  for (const [name, over, counts] of rows) {
    it(`${name} ${counts ? 'counts' : 'does not count'} toward the limit`, () => {
      expect(countsTowardLimit(device(over), now)).to.equal(counts);
    });
  }
});

describe('enrollment-profiles: resolution through the service', () => {
  let gw: TestGateway;
  let resolver: ProfileResolver;
  const directory = fixtureUserDirectory({
    groups: ['g-vip', 'g-contractors', 'g-sales', 'g-blocked', 'g-small'],
    users: [
      user('alice', ['g-vip']),
      user('bob', ['g-vip', 'g-contractors', 'g-sales']),
      user('carol', []),
      user('dave', ['g-blocked']),
      user('erin', ['g-vip', 'g-blocked']),
      user('frank', ['g-sales']),
      user('gina', ['g-sales', 'g-small']),
    ],
  });
  const mdm = fixtureDeviceDirectory();

  before(async () => {
    gw = await startTestGateway({
      label: 'epresolve',
      enable: ['admin-access', 'enrollment-profiles'],
      plugins: [testAdminTokens, directory.plugin, mdm.plugin],
      // config/default.yaml disables identity-entra; the fixture standing in for it must be enabled.
      config: { plugins: { 'identity-entra': { enabled: true }, 'enrollment-profiles': { defaultDeviceLimit: 3 } } },
    });
    resolver = gw.gateway.context('enrollment-profiles').resolve(profileResolverRef);
    await createProfile(gw, { name: 'VIP web', include: ['g-vip'], exclude: ['g-contractors'] });
    await createProfile(gw, { name: 'Sales app', enrollmentType: 'app-based', include: ['g-sales'] });
    await createProfile(gw, { name: 'Everyone web', allUsers: true, exclude: ['g-blocked'] });
  });
  after(() => gw?.stop());
  beforeEach(() => {
    mdm.devices.length = 0;
    mdm.missing.length = 0;
  });

  const table: {
    user: string;
    ua: string;
    hints?: DeviceClientHints;
    outcome: ResolutionOutcome;
    profile?: string;
    reason?: RegExp;
  }[] = [
    // priorities, excludes, all users
    { user: 'alice', ua: UA.ios1741, outcome: 'web-enrollment', profile: 'VIP web', reason: /included group g-vip/ },
    {
      user: 'bob',
      ua: UA.ios1741,
      outcome: 'company-portal-app',
      profile: 'Sales app',
      reason: /excluded group g-contractors/,
    },
    { user: 'carol', ua: UA.ios1741, outcome: 'web-enrollment', profile: 'Everyone web', reason: /all users/ },
    { user: 'dave', ua: UA.ios1741, outcome: 'no-profile', reason: /excluded group g-blocked/ },
    { user: 'erin', ua: UA.ios1741, outcome: 'web-enrollment', profile: 'VIP web', reason: /included group g-vip/ },
    { user: 'frank', ua: UA.ios150, outcome: 'company-portal-app', profile: 'Sales app', reason: /app-based/ },
    // OS gating of a web-based profile
    {
      user: 'alice',
      ua: UA.ios148,
      outcome: 'company-portal-app',
      profile: 'VIP web',
      reason: /14\.8 is older than 15/,
    },
    { user: 'alice', ua: UA.ios150, outcome: 'web-enrollment', profile: 'VIP web', reason: /iOS 15\.0 supports/ },
    { user: 'carol', ua: UA.ipadMobile, outcome: 'web-enrollment', profile: 'Everyone web', reason: /iPadOS 16\.6/ },
    {
      user: 'carol',
      ua: UA.ipadDesktop17,
      hints: { touch: true },
      outcome: 'web-enrollment',
      profile: 'Everyone web',
      reason: /iPadOS 17\.4/,
    },
    {
      user: 'carol',
      ua: UA.ipadDesktop14,
      hints: { touch: true },
      outcome: 'company-portal-app',
      profile: 'Everyone web',
      reason: /iPadOS 14\.1 is older/,
    },
    { user: 'carol', ua: UA.ipadDesktop17, outcome: 'unsupported-platform', reason: /macOS is not supported/ },
    { user: 'carol', ua: UA.android, outcome: 'unsupported-platform', reason: /android is not supported/ },
    { user: 'carol', ua: UA.windows, outcome: 'unsupported-platform', reason: /windows is not supported/ },
    { user: 'carol', ua: UA.unknown, outcome: 'unsupported-platform', reason: /unknown is not supported/ },
    { user: 'dave', ua: UA.android, outcome: 'unsupported-platform' },
  ];
  for (const row of table) {
    it(`${row.user} on ${row.ua.slice(13, 47)}${row.hints ? ' (touch)' : ''} → ${row.outcome}`, async () => {
      const account = directory.users.get(row.user)!;
      const device = parseDeviceUserAgent(row.ua, row.hints);
      const result = await resolver.resolve({ userId: account.id, groups: account.groups, ...device });
      expect(result.outcome, result.reasons.join('\n')).to.equal(row.outcome);
      if (row.outcome !== 'unsupported-platform') expect(result.profile?.name).to.equal(row.profile);
      if (row.reason) expect(result.reasons.join('\n')).to.match(row.reason);
      if (row.outcome === 'unsupported-platform') expect(result.userMessage).to.match(/iPhone or iPad/);
    });
  }

  it('serves nothing while setup is incomplete', async () => {
    mdm.missing.push({ item: 'push-certificate', problem: 'no valid Apple MDM push certificate is installed' });
    const result = await resolver.resolve({ userId: 'alice', groups: ['g-vip'], platform: 'iOS', osVersion: '17.4' });
    expect(result.outcome).to.equal('setup-incomplete');
    expect(result.reasons[0]).to.match(/push-certificate/);
  });

  const alicesDevice = (n: number, over: Partial<DeviceRecord>): DeviceRecord => ({
    id: `d${n}`,
    udid: `udid-${n}`,
    userId: 'alice',
    state: 'enrolled',
    pushable: true,
    managedApps: [],
    installedProfiles: [],
    ...over,
  });
  const ios17 = { userId: 'alice', groups: ['g-vip'], platform: 'iOS' as const, osVersion: '17.4' };

  it('refuses at the default limit, counting only devices seen in 90 days and pending under 24 hours', async () => {
    mdm.devices.push(
      alicesDevice(1, { lastSeenAt: ago(DAY) }),
      alicesDevice(2, { lastSeenAt: ago(89 * DAY) }),
      alicesDevice(3, { lastSeenAt: ago(91 * DAY) }),
      alicesDevice(4, { state: 'retired', lastSeenAt: ago(DAY) }),
      alicesDevice(5, { state: 'pending', createdAt: ago(25 * 3_600_000) }),
      { ...alicesDevice(6, { lastSeenAt: ago(0) }), userId: 'someone-else' },
    );
    let result = await resolver.resolve(ios17);
    expect(result.outcome).to.equal('web-enrollment');
    expect(result.deviceLimit).to.deep.equal({ limit: 3, active: 2, policy: undefined });

    mdm.devices.push(alicesDevice(7, { state: 'pending', createdAt: ago(23 * 3_600_000) }));
    result = await resolver.resolve(ios17);
    expect(result.outcome).to.equal('device-limit');
    expect(result.userMessage).to.equal(DEVICE_LIMIT_MESSAGE);
    expect(result.deviceLimit).to.deep.equal({ limit: 3, active: 3, policy: undefined });
    expect(result.reasons.at(-1)).to.match(/3 active devices reach the default limit of 3/);
  });

  it('applies the first group limit policy by priority', async () => {
    const high = await call(gw, 'POST', '/api/device-limit-policies', {
      name: 'Small fleet',
      groups: ['g-small'],
      limit: 1,
      priority: 10,
    });
    expect(high.status, JSON.stringify(high.body)).to.equal(201);
    const low = await call(gw, 'POST', '/api/device-limit-policies', {
      name: 'Sales',
      groups: ['g-sales'],
      limit: 2,
      priority: 20,
    });
    expect(low.status).to.equal(201);
    mdm.devices.push({ ...alicesDevice(1, { lastSeenAt: ago(DAY) }), userId: 'gina' });
    mdm.devices.push({ ...alicesDevice(2, { lastSeenAt: ago(DAY) }), userId: 'frank' });
    const gina = await resolver.resolve({
      userId: 'gina',
      groups: ['g-sales', 'g-small'],
      platform: 'iOS',
      osVersion: '17.0',
    });
    expect(gina.outcome).to.equal('device-limit');
    expect(gina.deviceLimit).to.deep.equal({ limit: 1, active: 1, policy: 'Small fleet' });
    const frank = await resolver.resolve({ userId: 'frank', groups: ['g-sales'], platform: 'iOS', osVersion: '17.0' });
    expect(frank.outcome).to.equal('company-portal-app');
    expect(frank.deviceLimit).to.deep.equal({ limit: 2, active: 1, policy: 'Sales' });

    const limits = await call<{ defaultLimit: number; items: { name: string }[] }>(
      gw,
      'GET',
      '/api/device-limit-policies',
    );
    expect(limits.body.defaultLimit).to.equal(3);
    expect(limits.body.items.map((p) => p.name)).to.deep.equal(['Small fleet', 'Sales']);
    const id = (high.body as { id: string }).id;
    expect((await call(gw, 'PATCH', `/api/device-limit-policies/${id}`, { limit: 2, version: 1 })).status).to.equal(
      200,
    );
    expect((await call(gw, 'PATCH', `/api/device-limit-policies/${id}`, { limit: 3, version: 1 })).status).to.equal(
      409,
    );
    const after = await resolver.resolve({
      userId: 'gina',
      groups: ['g-sales', 'g-small'],
      platform: 'iOS',
      osVersion: '17.0',
    });
    expect(after.outcome).to.equal('company-portal-app');
    for (const bad of [
      { name: 'Too many', groups: ['g-sales'], limit: 16, priority: 30 },
      { name: 'No groups', groups: [], limit: 2, priority: 31 },
      { name: 'Unknown', groups: ['g-nope'], limit: 2, priority: 32 },
      { name: 'Same priority', groups: ['g-sales'], limit: 2, priority: 20 },
    ]) {
      const res = await call(gw, 'POST', '/api/device-limit-policies', bad);
      expect(res.status, bad.name).to.equal(400);
      if (bad.name === 'Same priority')
        expect((res.body as { detail: string }).detail, JSON.stringify(res.body)).to.match(/^priority/);
      expect(res.headers.get('content-type')).to.match(/application\/problem\+json/);
    }
    expect((await call(gw, 'DELETE', `/api/device-limit-policies/${id}`)).status).to.equal(204);
    expect((await call(gw, 'DELETE', `/api/device-limit-policies/${(low.body as { id: string }).id}`)).status).to.equal(
      204,
    );
  });

  it('explains the result for any user from the admin API', async () => {
    const res = await call<{
      outcome: string;
      profile: { name: string; priority: number };
      reasons: string[];
      user: { upn: string };
      device: { platform: string };
    }>(gw, 'GET', `/api/enrollment-profiles/explain?userId=bob&userAgent=${encodeURIComponent(UA.ios148)}`);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.outcome).to.equal('company-portal-app');
    expect(res.body.profile).to.include({ name: 'Sales app', priority: 2 });
    expect(res.body.user.upn).to.equal('bob@example.com');
    expect(res.body.device.platform).to.equal('iOS');
    expect(res.body.reasons[0]).to.match(
      /priority 1 "VIP web" skipped: the user is in its excluded group g-contractors/,
    );
    expect(res.body.reasons[1]).to.match(/priority 2 "Sales app" applies: the user is in its included group g-sales/);
    const withoutPlatform = await call<{ outcome: string; notes: string[] }>(
      gw,
      'GET',
      '/api/enrollment-profiles/explain?userId=carol',
    );
    expect(withoutPlatform.body.outcome).to.equal('web-enrollment');
    expect(withoutPlatform.body.notes).to.include('no platform given: OS gating was skipped');
    expect((await call(gw, 'GET', '/api/enrollment-profiles/explain?userId=nobody')).status).to.equal(404);
    expect(
      (await call(gw, 'GET', '/api/enrollment-profiles/explain?userId=carol', undefined, { token: 'reader' })).status,
    ).to.equal(403);
  });
});
