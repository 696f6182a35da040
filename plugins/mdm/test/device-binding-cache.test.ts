import { expect } from 'chai';
import { Redis } from 'ioredis';
import pino from 'pino';
import { testServices, uniqueRedisPrefix } from '../../../test/support/services.js';
import { type BoundDevice, DeviceBindingCache } from '../src/services/device-binding-cache.js';

const logger = pino({ level: 'silent' });
const mirror = { key: `${uniqueRedisPrefix('bindcache')}revocations`, loadedMember: '__loaded__' };
const device = (generation: string | undefined): BoundDevice => ({
  id: '65f000000000000000000001',
  udid: 'UDID-1',
  enrollmentId: 'enrollment-1',
  serial: '0A1B',
  reported: { osVersion: '17.5' },
  generation,
});

describe('mdm device binding cache (Redis)', () => {
  const clients: Redis[] = [];
  const connect = (options: { lazyConnect?: boolean } = {}) => {
    const client = new Redis(testServices().redisUrl, { ...options, maxRetriesPerRequest: 1 });
    clients.push(client);
    return client;
  };
  const ready = (client: Redis) =>
    client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => client.once('ready', resolve));
  after(() => {
    for (const client of clients) client.disconnect();
  });

  it('serves what was stored under the current generation, for the UDID it was stored for only', async () => {
    const redis = connect();
    await ready(redis);
    const cache = new DeviceBindingCache(redis, uniqueRedisPrefix('bindcache'), logger, mirror);
    // The very first lookup starts a generation and stores nothing yet.
    expect(await cache.lookup('fp1', 'UDID-1')).to.deep.equal({ generation: undefined });
    const miss = await cache.lookup('fp1', 'UDID-1');
    expect(miss).to.have.property('generation').that.is.a('string');
    await cache.store('fp1', device((miss as { generation: string }).generation));
    const hit = await cache.lookup('fp1', 'UDID-1');
    expect(hit)
      .to.have.property('device')
      .that.deep.includes({ id: device(undefined).id, udid: 'UDID-1' });
    expect(await cache.lookup('fp1', 'OTHER-UDID')).to.have.property('generation');
  });

  it('drops every entry on a binding change, and a read that raced the change cannot store its stale answer', async () => {
    const redis = connect();
    await ready(redis);
    const cache = new DeviceBindingCache(redis, uniqueRedisPrefix('bindcache'), logger, mirror);
    await cache.lookup('fp1', 'UDID-1');
    const before = (await cache.lookup('fp1', 'UDID-1')) as { generation: string };
    await cache.store('fp1', device(before.generation));
    expect(await cache.invalidateAll()).to.equal(true);
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('device');
    // A reader that saw the old generation before the change finishes its database read only now.
    await cache.store('fp2', device(before.generation));
    expect(await cache.lookup('fp2', 'UDID-1')).not.to.have.property('device');
  });

  it('with Redis unreachable it answers "not cached" at once, and delivers a missed invalidation on reconnect', async () => {
    const prefix = uniqueRedisPrefix('bindcache');
    const shared = connect();
    await ready(shared);
    const other = new DeviceBindingCache(shared, prefix, logger, mirror);
    await other.lookup('fp1', 'UDID-1');
    const seen = (await other.lookup('fp1', 'UDID-1')) as { generation: string };
    await other.store('fp1', device(seen.generation));

    const offline = connect({ lazyConnect: true });
    const cache = new DeviceBindingCache(offline, prefix, logger, mirror);
    const started = performance.now();
    expect(await cache.lookup('fp1', 'UDID-1')).to.deep.equal({ generation: undefined });
    expect(await cache.invalidateAll()).to.equal(false);
    expect(performance.now() - started).to.be.below(100);
    // Another replica still serves its entry until the invalidation lands.
    expect(await other.lookup('fp1', 'UDID-1')).to.have.property('device');
    await offline.connect();
    await ready(offline);
    for (let i = 0; i < 50 && 'device' in (await other.lookup('fp1', 'UDID-1')); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await other.lookup('fp1', 'UDID-1')).not.to.have.property('device');
  });

  it('answers whether the cached identity is revoked in the same round trip, once the mirror is loaded', async () => {
    const redis = connect();
    await ready(redis);
    const cache = new DeviceBindingCache(redis, uniqueRedisPrefix('bindcache'), logger, mirror);
    await cache.lookup('fp1', 'UDID-1');
    const miss = (await cache.lookup('fp1', 'UDID-1')) as { generation: string };
    await cache.store('fp1', device(miss.generation));
    await redis.del(mirror.key);
    // Not loaded: the cache does not vouch either way, the caller asks the database.
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('revoked');
    await redis.sadd(mirror.key, '__loaded__');
    expect(await cache.lookup('fp1', 'UDID-1')).to.have.property('revoked', false);
    await redis.sadd(mirror.key, 'enrollment:enrollment-1');
    expect(await cache.lookup('fp1', 'UDID-1')).to.include({ revoked: true });
    await redis.srem(mirror.key, 'enrollment:enrollment-1');
    await redis.sadd(mirror.key, 'certificate:0A1B');
    expect(await cache.lookup('fp1', 'UDID-1')).to.include({ revoked: true });
    await redis.del(mirror.key);
  });
});
