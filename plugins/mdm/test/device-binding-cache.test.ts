import { expect } from 'chai';
import { Redis } from 'ioredis';
import pino from 'pino';
import { testServices, uniqueRedisPrefix } from '../../../test/support/services.js';
import {
  type BoundDevice,
  type CacheGenerations,
  type CacheLookup,
  DeviceBindingCache,
  ENTRY_SECONDS,
} from '../src/services/device-binding-cache.js';

const logger = pino({ level: 'silent' });
const mirror = { key: `${uniqueRedisPrefix('bindcache')}revocations`, loadedMember: '__loaded__' };
const device = (generations: CacheGenerations | undefined, udid = 'UDID-1'): BoundDevice => ({
  id: `65f0000000000000000000${udid === 'UDID-1' ? '01' : '02'}`,
  udid,
  enrollmentId: 'enrollment-1',
  serial: '0A1B',
  reported: { osVersion: '17.5' },
  generations,
});
const generationsOf = (lookup: CacheLookup): CacheGenerations => {
  if (!('generations' in lookup) || !lookup.generations) throw new Error('expected a miss with generations');
  return lookup.generations;
};

describe('mdm device binding cache (Redis)', () => {
  const clients: Redis[] = [];
  const connect = (options: { lazyConnect?: boolean } = {}) => {
    const client = new Redis(testServices().redisUrl, { ...options, maxRetriesPerRequest: 1 });
    clients.push(client);
    return client;
  };
  const ready = (client: Redis) =>
    client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => client.once('ready', resolve));
  const cacheOn = (redis: Redis, prefix = uniqueRedisPrefix('bindcache')) =>
    new DeviceBindingCache(redis, prefix, logger, mirror, `${prefix}presence:marks`);
  after(() => {
    for (const client of clients) client.disconnect();
  });

  it('serves what was stored under the current generations for days, for the UDID it was stored for only', async () => {
    const redis = connect();
    await ready(redis);
    const prefix = uniqueRedisPrefix('bindcache');
    const cache = cacheOn(redis, prefix);
    // The first lookup starts the shared generation (the device's starts with its first entry).
    const miss = await cache.lookup('fp1', 'UDID-1');
    await cache.store('fp1', device(generationsOf(miss)));
    const hit = await cache.lookup('fp1', 'UDID-1');
    expect(hit)
      .to.have.property('device')
      .that.deep.includes({ id: device(undefined).id, udid: 'UDID-1' });
    expect(await cache.lookup('fp1', 'OTHER-UDID')).not.to.have.property('device');
    const ttl = await redis.ttl(`${prefix}binding:fp1`);
    expect(ttl).to.be.above(ENTRY_SECONDS - 60);
    // The device generation outlives the entry, so an entry never outlives the word on its device.
    expect(await redis.ttl(`${prefix}binding-generation:UDID-1`)).to.be.above(ttl);
  });

  it('a hit the revocation mirror vouches for marks its device as seen in the same round trip; others do not', async () => {
    const redis = connect();
    await ready(redis);
    const prefix = uniqueRedisPrefix('bindcache');
    const marks = `${prefix}presence:marks`;
    const revocations = { key: `${prefix}revocations`, loadedMember: '__loaded__' };
    const cache = new DeviceBindingCache(redis, prefix, logger, revocations, marks);
    await cache.store('fp1', device(generationsOf(await cache.lookup('fp1', 'UDID-1'))));
    expect(await redis.zcard(marks), 'a miss').to.equal(0);
    // Mirror not loaded: the caller checks revocation itself, and marks the device when it passes.
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('revoked');
    expect(await redis.zcard(marks)).to.equal(0);
    await redis.sadd(revocations.key, '__loaded__');
    const before = Date.now();
    await cache.lookup('fp1', 'UDID-1');
    const seen = Number(await redis.zscore(marks, device(undefined).id));
    expect(seen).to.be.within(before, Date.now());
    await redis.zrem(marks, device(undefined).id);
    await redis.sadd(revocations.key, 'enrollment:enrollment-1');
    expect(await cache.lookup('fp1', 'UDID-1')).to.include({ revoked: true });
    expect(await redis.zcard(marks), 'a refused identity is no sighting').to.equal(0);
  });

  it('a request naming a UDID creates no key for it; a store starts its generation', async () => {
    const redis = connect();
    await ready(redis);
    const prefix = uniqueRedisPrefix('bindcache');
    const cache = cacheOn(redis, prefix);
    const miss = generationsOf(await cache.lookup('fp1', 'UDID-1'));
    expect(miss.device).to.equal('');
    expect(await redis.exists(`${prefix}binding-generation:UDID-1`)).to.equal(0);
    await cache.store('fp1', device(miss));
    expect(await redis.exists(`${prefix}binding-generation:UDID-1`)).to.equal(1);
    expect(await cache.lookup('fp1', 'UDID-1')).to.have.property('device');
  });

  it("a device's binding change drops its entries only; a read that raced it cannot store its stale answer", async () => {
    const redis = connect();
    await ready(redis);
    const cache = cacheOn(redis);
    const before = generationsOf(await cache.lookup('fp1', 'UDID-1'));
    await cache.store('fp1', device(before));
    await cache.store('fp2', device(generationsOf(await cache.lookup('fp2', 'UDID-2')), 'UDID-2'));
    expect(await cache.invalidateDevice('UDID-1')).to.equal(true);
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('device');
    expect(await cache.lookup('fp2', 'UDID-2'), 'another device keeps its entry').to.have.property('device');
    // A reader that saw the old generations before the change finishes its database read only now.
    await cache.store('fp1', device(before));
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('device');
  });

  it('a change it cannot tie to one device drops every entry', async () => {
    const redis = connect();
    await ready(redis);
    const cache = cacheOn(redis);
    const before = generationsOf(await cache.lookup('fp1', 'UDID-1'));
    await cache.store('fp1', device(before));
    expect(await cache.invalidateAll()).to.equal(true);
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('device');
    await cache.store('fp1', device(before));
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('device');
  });

  it('a lost device generation ends its entries instead of reviving older ones', async () => {
    const redis = connect();
    await ready(redis);
    const prefix = uniqueRedisPrefix('bindcache');
    const cache = cacheOn(redis, prefix);
    await cache.store('fp1', device(generationsOf(await cache.lookup('fp1', 'UDID-1'))));
    await redis.del(`${prefix}binding-generation:UDID-1`);
    expect(await cache.lookup('fp1', 'UDID-1')).not.to.have.property('device');
  });

  it('with Redis unreachable it answers "not cached" at once, and delivers a missed invalidation on reconnect', async () => {
    const prefix = uniqueRedisPrefix('bindcache');
    const shared = connect();
    await ready(shared);
    const other = cacheOn(shared, prefix);
    await other.store('fp1', device(generationsOf(await other.lookup('fp1', 'UDID-1'))));

    const offline = connect({ lazyConnect: true });
    const cache = cacheOn(offline, prefix);
    const started = performance.now();
    expect(await cache.lookup('fp1', 'UDID-1')).to.deep.equal({ generations: undefined });
    // A device's change that cannot be written becomes a change for every device, delivered on reconnect.
    expect(await cache.invalidateDevice('UDID-1')).to.equal(false);
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
    const cache = cacheOn(redis);
    await cache.store('fp1', device(generationsOf(await cache.lookup('fp1', 'UDID-1'))));
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
