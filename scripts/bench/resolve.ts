/**
 * Enrollment-profile resolution for a user in 200 groups against 500 profiles, from the cached
 * profile list (worst case: only the last profile applies, so every profile is checked), and how
 * long a change made on one replica takes to reach a second replica's cache over Redis pub/sub.
 *   npm run bench -- resolve [--profiles 500] [--groups 200] [--samples 20000] [--changes 30]
 * Two gateways run in this process on the same database and Redis prefix; the setup status and
 * device list come from an in-memory stand-in for the mdm plugin, so the figures are the resolver's.
 */
import { profileResolverRef, type ResolveInput } from '../../core/sdk/index.js';
import {
  adminHeaders,
  fixtureDeviceDirectory,
  fixtureUserDirectory,
  testAdminTokens,
} from '../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../test/support/gateway.js';
import { servicesForHarness, stopLocalServices } from '../lib/local-services.js';
import { option, percentiles } from './_stats.js';

const GROUPS_PER_PROFILE = 5;

async function api<T>(gw: TestGateway, method: string, path: string, body?: unknown): Promise<T> {
  const res = await gw.fetch(path, {
    method,
    headers: adminHeaders(),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const profileCount = option(args, 'profiles', 500);
  const groupCount = option(args, 'groups', 200);
  const samples = option(args, 'samples', 20_000);
  const changes = option(args, 'changes', 30);
  await servicesForHarness();

  const allGroups = Array.from({ length: profileCount * GROUPS_PER_PROFILE + groupCount }, (_, i) => `group-${i}`);
  const userGroups = allGroups.slice(profileCount * GROUPS_PER_PROFILE);
  const start = (label: string, shared?: { mongodbUri: string; redisPrefix: string }) =>
    startTestGateway({
      label,
      enable: ['admin-access', 'enrollment-profiles'],
      plugins: [testAdminTokens, fixtureUserDirectory({ groups: allGroups }).plugin, fixtureDeviceDirectory().plugin],
      config: {
        plugins: { 'identity-entra': { enabled: true }, 'enrollment-profiles': { refreshIntervalSeconds: 0 } },
      },
      ...shared,
    });
  const a = await start('benchresolvea');
  const b = await start('benchresolveb', { mongodbUri: a.mongodbUri, redisPrefix: a.redisPrefix });
  try {
    console.log(`creating ${profileCount} profiles through the admin API…`);
    const seedStarted = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < profileCount - 1; i++) {
      // None of these applies: their groups are not the user's, and every tenth excludes one of the user's groups.
      const included = allGroups.slice(i * GROUPS_PER_PROFILE, (i + 1) * GROUPS_PER_PROFILE);
      const excluded = i % 10 === 0 ? [userGroups[i % groupCount]] : [];
      const created = await api<{ id: string }>(a, 'POST', '/api/enrollment-profiles', {
        name: `Profile ${i}`,
        enrollmentType: i % 2 ? 'web-based' : 'app-based',
        assignments: { allUsers: i % 10 === 0, includedGroups: included, excludedGroups: excluded },
      });
      ids.push(created.id);
    }
    const last = await api<{ id: string }>(a, 'POST', '/api/enrollment-profiles', {
      name: 'Everyone',
      enrollmentType: 'web-based',
      assignments: { allUsers: true },
    });
    ids.push(last.id);
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    const resolverB = b.gateway.context('enrollment-profiles').resolve(profileResolverRef);
    const input: ResolveInput = { userId: 'bench-user', groups: userGroups, platform: 'iOS', osVersion: '17.4' };
    // B learns of A's last create over Redis; give it a moment.
    let first = await resolverB.resolve(input);
    for (let wait = 0; first.profile?.id !== last.id && wait < 100; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      first = await resolverB.resolve(input);
    }
    if (first.profile?.id !== last.id) throw new Error(`replica B resolved ${first.profile?.name}, expected Everyone`);
    if (first.reasons.length < profileCount) throw new Error('expected a reason for every profile checked');

    for (let i = 0; i < 2000; i++) await resolverB.resolve(input);
    const durations: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      await resolverB.resolve(input);
      durations.push(performance.now() - t0);
    }
    const resolve = percentiles(durations);
    console.log(
      `resolve(): user in ${groupCount} groups, ${profileCount} profiles, all checked: p50 ${resolve.p50} ms, p99 ${resolve.p99} ms (${samples} calls)`,
    );

    // Alternately move "Everyone" and "Profile 0" (which excludes the user) to the top: Everyone still
    // applies, at priority 1 or 2, so B has seen a change when Everyone's priority flips.
    const propagation: number[] = [];
    const endToEnd: number[] = [];
    let version = (await api<{ version: number }>(a, 'GET', '/api/enrollment-profiles?limit=1')).version;
    for (let i = 0; i < changes; i++) {
      const moving = i % 2 === 0 ? last.id : ids[0];
      const requested = performance.now();
      const moved = await api<{ version: number; order: string[] }>(
        a,
        'POST',
        `/api/enrollment-profiles/${moving}/move`,
        {
          toPosition: 1,
          version,
        },
      );
      version = moved.version;
      const answered = performance.now();
      const wantPriority = moved.order.indexOf(last.id) + 1;
      for (;;) {
        const result = await resolverB.resolve(input);
        if (result.profile?.id === last.id && result.profile.priority === wantPriority) break;
        if (performance.now() - answered > 5000) throw new Error(`replica B never saw change ${i}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const seen = performance.now();
      propagation.push(seen - answered);
      endToEnd.push(seen - requested);
    }
    const afterChange = percentiles(propagation);
    const total = percentiles(endToEnd);
    console.log(
      `a change on replica A reached replica B's cache (announce + reload of ${profileCount} profiles) in p50 ${afterChange.p50} ms, p99 ${afterChange.p99} ms after A answered; ${total.p50}/${total.p99} ms from the request`,
    );
    return {
      profiles: profileCount,
      userGroups: groupCount,
      samples,
      resolveMs: resolve,
      p99UnderOneMs: resolve.p99 < 1,
      changes,
      propagationAfterResponseMs: afterChange,
      propagationFromRequestMs: total,
      seedSeconds: +seedSeconds.toFixed(2),
    };
  } finally {
    await b.stop();
    await a.stop();
    stopLocalServices();
  }
}
