import { expect } from 'chai';
import { withRedisLock } from 'enrollment-gateway/sdk';
import { Redis } from 'ioredis';
import { testServices, uniqueRedisPrefix } from '../support/services.js';

describe('SDK withRedisLock', () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(testServices().redisUrl, { maxRetriesPerRequest: 1 });
  });
  after(() => redis.disconnect());

  it('runs the work on one holder at a time and frees the key afterwards', async () => {
    const key = `${uniqueRedisPrefix('lock')}job`;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = withRedisLock(redis, key, 10_000, async () => {
      await held;
      return 'first';
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await withRedisLock(redis, key, 10_000, async () => 'second')).to.equal(undefined);
    release();
    expect(await first).to.equal('first');
    expect(await redis.exists(key)).to.equal(0);
    expect(await withRedisLock(redis, key, 10_000, async () => 'third')).to.equal('third');
  });

  it("work that outlived its lock does not release the next holder's", async () => {
    const key = `${uniqueRedisPrefix('lock')}job`;
    await withRedisLock(redis, key, 100, async () => {
      await new Promise((resolve) => setTimeout(resolve, 250));
      // The lock expired meanwhile and another holder took it.
      expect(await redis.set(key, 'next-holder', 'PX', 10_000, 'NX')).to.equal('OK');
    });
    expect(await redis.get(key)).to.equal('next-holder');
  });

  it('a failing work releases the lock and its error reaches the caller', async () => {
    const key = `${uniqueRedisPrefix('lock')}job`;
    const failing = withRedisLock(redis, key, 10_000, async () => {
      throw new Error('boom');
    });
    await failing.then(
      () => expect.fail('should have thrown'),
      (error: Error) => expect(error.message).to.equal('boom'),
    );
    expect(await redis.exists(key)).to.equal(0);
  });
});
