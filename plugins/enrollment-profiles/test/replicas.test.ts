import { expect } from 'chai';
import { profileResolverRef } from 'enrollment-gateway/sdk';
import {
  fixtureDeviceDirectory,
  fixtureUserDirectory,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { call, createProfile } from './helpers.js';

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, ms = 3_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('enrollment-profiles: cache invalidation across replicas', () => {
  let a: TestGateway;
  let b: TestGateway;
  const start = (label: string, shared?: { mongodbUri: string; redisPrefix: string }) =>
    startTestGateway({
      label,
      enable: ['admin-access', 'enrollment-profiles'],
      plugins: [testAdminTokens, fixtureUserDirectory({ groups: ['g-1'] }).plugin, fixtureDeviceDirectory().plugin],
      // No polling: only the Redis announcement can tell replica B about a change.
      config: {
        plugins: { 'identity-entra': { enabled: true }, 'enrollment-profiles': { refreshIntervalSeconds: 0 } },
      },
      ...shared,
    });

  before(async () => {
    a = await start('epreplicaa');
    b = await start('epreplicab', { mongodbUri: a.mongodbUri, redisPrefix: a.redisPrefix });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  const resolveOn = (gw: TestGateway, groups: string[]) =>
    gw.gateway
      .context('enrollment-profiles')
      .resolve(profileResolverRef)
      .resolve({ userId: 'u', groups, platform: 'iOS', osVersion: '17.0' });

  it('a change on one replica reaches the other replica’s cache through Redis', async () => {
    expect((await resolveOn(b, ['g-1'])).outcome).to.equal('no-profile');
    const everyone = await createProfile(a, { name: 'Everyone', allUsers: true });
    const seen = await until(
      () => resolveOn(b, ['g-1']),
      (r) => r.profile?.id === everyone.id,
    );
    expect(seen.profile?.name).to.equal('Everyone');

    const group = await createProfile(a, {
      name: 'Group one',
      enrollmentType: 'app-based',
      include: ['g-1'],
      priority: 1,
    });
    const moved = await until(
      () => resolveOn(b, ['g-1']),
      (r) => r.profile?.id === group.id,
    );
    expect(moved.outcome).to.equal('company-portal-app');

    // An edit (no order change) and a delete travel the same way.
    const patch = await call(a, 'PATCH', `/api/enrollment-profiles/${group.id}`, {
      enrollmentType: 'web-based',
      version: 1,
    });
    expect(patch.status).to.equal(200);
    expect(
      (
        await until(
          () => resolveOn(b, ['g-1']),
          (r) => r.outcome === 'web-enrollment',
        )
      ).outcome,
    ).to.equal('web-enrollment');
    expect((await call(a, 'DELETE', `/api/enrollment-profiles/${group.id}`)).status).to.equal(204);
    const after = await until(
      () => resolveOn(b, ['g-1']),
      (r) => r.profile?.id === everyone.id,
    );
    expect(after.profile?.name).to.equal('Everyone');
  });

  it('reloads only on an announcement of a newer revision than the one it holds', async () => {
    const plugin = a.gateway.context('enrollment-profiles');
    const changes = plugin.mongo.collection<{ _id: number; ids: string[]; orderVersion: number }>(
      'enrollment_profile_changes',
    );
    const channel = `${plugin.redisKeyPrefix}profiles:changed`;
    const current = await resolveOn(b, []);
    // A change written behind the API's back: nobody announces it, and B does not poll.
    const latest = (await changes.find().sort({ _id: -1 }).limit(1).toArray())[0];
    await plugin.mongo.collection<{ _id: string }>('enrollment_profiles').insertOne({
      _id: 'silent',
      name: 'Silent',
      nameKey: 'silent',
      description: '',
      enrollmentType: 'app-based',
      assignments: { allUsers: true, includedGroups: [], excludedGroups: [] },
      version: 1,
    } as never);
    await changes.insertOne({
      _id: latest._id + 1,
      ids: ['silent', ...latest.ids],
      orderVersion: latest.orderVersion + 1,
      kind: 'test',
      at: new Date(),
    } as never);
    await plugin.redis.publish(channel, JSON.stringify({ revision: latest._id }));
    await plugin.redis.publish(channel, 'not json');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await resolveOn(b, [])).profile?.id, 'an old revision changes nothing').to.equal(current.profile?.id);
    await plugin.redis.publish(channel, JSON.stringify({ revision: latest._id + 1 }));
    const reloaded = await until(
      () => resolveOn(b, []),
      (r) => r.profile?.id === 'silent',
    );
    expect(reloaded.profile?.name).to.equal('Silent');
  });
});
