import { expect } from 'chai';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import { coreConfigSchema } from '../../core/config/schema.js';
import { RedisRateLimits } from '../../core/rate-limits.js';
import { RateLimitedProblem } from '../../core/sdk/rate-limit.js';
import { testServices, uniqueRedisPrefix } from '../support/services.js';

/** The kernel's rate limits on their own, against the test Redis (and against a Redis that is not there). */
describe('kernel: rate limits (ctx.rateLimits)', function () {
  this.timeout(20_000);
  const prefix = `${uniqueRedisPrefix('ratelimits')}:`;
  let redis: Redis;
  before(async () => {
    redis = new Redis(testServices().redisUrl);
    // As the gateway does at start: the limits refuse (store unavailable) until the connection is ready.
    await redis.ping();
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  const settings = (overrides: Record<string, unknown> = {}) =>
    coreConfigSchema.parse({
      rateLimits: {
        apiKey: { perClient: { points: 3, windowSeconds: 30 }, perKey: { points: 2, windowSeconds: 30 } },
        ...overrides,
      },
    }).rateLimits;
  const limitsOn = (client: Redis, overrides?: Record<string, unknown>) => {
    const counter = new Counter({
      name: 'limited',
      help: 'x',
      labelNames: ['policy', 'scope'],
      registers: [new Registry()],
    });
    return {
      limits: new RedisRateLimits(client, settings(overrides), prefix, counter, pino({ level: 'silent' })),
      counter,
    };
  };

  it('counts per client and per key in Redis, refuses over the limit with a Retry-After inside the window', async () => {
    const { limits, counter } = limitsOn(redis);
    const decisions = [];
    for (let i = 0; i < 3; i += 1) decisions.push(await limits.consume('apiKey', { client: '10.0.0.1', key: `k${i}` }));
    expect(decisions.every((d) => !d.limited)).to.equal(true);
    const over = await limits.consume('apiKey', { client: '10.0.0.1', key: 'k9' });
    expect(over).to.deep.include({ limited: true, scope: 'client' });
    expect(over.limited && over.retryAfterSeconds).to.be.within(1, 30);
    // The same key from other clients: its own rule (2) stops the third use.
    expect((await limits.consume('apiKey', { client: '10.0.0.2', key: 'shared-secret' })).limited).to.equal(false);
    expect((await limits.consume('apiKey', { client: '10.0.0.3', key: 'shared-secret' })).limited).to.equal(false);
    expect(await limits.consume('apiKey', { client: '10.0.0.4', key: 'shared-secret' })).to.deep.include({
      limited: true,
      scope: 'key',
    });
    // What a caller presented never reaches Redis as such.
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.join(' ')).not.to.include('shared-secret');
    expect((await counter.get()).values.map((v) => v.labels.scope).sort()).to.deep.equal(['client', 'key']);
  });

  it('peek reads without counting; a disabled gateway never refuses', async () => {
    const { limits } = limitsOn(redis);
    for (let i = 0; i < 5; i += 1)
      expect((await limits.peek('apiKey', { client: '10.0.1.1' })).limited).to.equal(false);
    for (let i = 0; i < 3; i += 1) await limits.consume('apiKey', { client: '10.0.1.1' });
    expect((await limits.peek('apiKey', { client: '10.0.1.1' })).limited).to.equal(true);
    const { limits: off } = limitsOn(redis, { enabled: false });
    for (let i = 0; i < 5; i += 1)
      expect((await off.consume('apiKey', { client: '10.0.1.1' })).limited).to.equal(false);
  });

  it('refuses with 503 and Retry-After when Redis is unreachable, never letting requests through uncounted', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      const { limits } = limitsOn(down);
      const decision = await limits.consume('device', { client: '10.0.2.1', key: 'device' });
      expect(decision).to.deep.include({ limited: true, scope: 'store' });
      if (!decision.limited) throw new Error('unreachable');
      const problem = new RateLimitedProblem(decision);
      expect(problem.status).to.equal(503);
      expect(problem.headers).to.deep.equal({ 'Retry-After': String(decision.retryAfterSeconds) });
      const limited = new RateLimitedProblem({ limited: true, scope: 'client', retryAfterSeconds: 7 });
      expect([limited.status, limited.headers['Retry-After']]).to.deep.equal([429, '7']);
    } finally {
      down.disconnect();
    }
  });
});
