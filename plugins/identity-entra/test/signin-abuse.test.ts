import { expect } from 'chai';
import { type IdentityFixture, PUBLIC_URL, startIdentityFixture } from './support.js';

/**
 * Nothing a stranger does before signing in may grow server-side state: anonymous GET /auth/signin keeps its
 * pending state in an encrypted cookie, and is rate limited per client (429 with Retry-After).
 */
describe('identity-entra: no server state before sign-in, and sign-in rate limits', function () {
  this.timeout(90_000);
  let fx: IdentityFixture;
  const FLOOD = 60;
  before(async () => {
    fx = await startIdentityFixture(
      'idabuse',
      {},
      { rateLimits: { enabled: true, signIn: { perClient: { points: FLOOD + 5, windowSeconds: 60 } } } },
    );
  });
  after(() => fx?.stop());

  const redisKeys = async () => {
    const redis = fx.gw.gateway.context('identity-entra').redis;
    return redis.keys(`${fx.gw.redisPrefix}:identity-entra:*`);
  };

  it('a flood of anonymous GET /auth/signin creates no Redis key; a real sign-in still works after it', async () => {
    const before = await redisKeys();
    for (let i = 0; i < FLOOD; i += 1) {
      // A fresh browser each time: no cookie to reuse, as a script hammering the URL would send.
      const res = await fx.browser().request(`${PUBLIC_URL}/auth/signin?returnTo=%2Fauth%2Fme`);
      expect(res.status).to.equal(302);
      expect(res.headers.getSetCookie().join('\n')).to.match(/__Host-gw_session\.signin=/);
    }
    expect(await redisKeys()).to.deep.equal(before);

    // A browser with a tampered state cookie gets a refusal, not a session.
    const forged = fx.browser();
    fx.standin.autoLogin = fx.accounts.user.oid;
    const start = await forged.request(`${PUBLIC_URL}/auth/signin`);
    const cookie = forged.cookie(PUBLIC_URL, '__Host-gw_session.signin') ?? '';
    forged.setCookie(PUBLIC_URL, '__Host-gw_session.signin', `${cookie.slice(0, -4)}AAAA`);
    const { response } = await forged.navigate(start.headers.get('location') ?? '');
    expect(response.status).to.equal(400);

    const { final, browser } = await fx.signIn(fx.accounts.user);
    expect(final.status).to.equal(200);
    // Signed in: exactly one session in Redis, and the state cookie is gone.
    const sessions = (await redisKeys()).filter((key) => key.includes(':session:'));
    expect(sessions).to.have.length(1);
    expect(browser.cookie(PUBLIC_URL, '__Host-gw_session.signin')).to.equal(undefined);
  });

  it('answers 429 with Retry-After once a client is over its sign-in limit', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i += 1) {
      const res = await fx.browser().request(`${PUBLIC_URL}/auth/signin`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses).to.include(429);
    expect(statuses.slice(statuses.indexOf(429)).every((s) => s === 429)).to.equal(true);
    expect(Number(retryAfter)).to.be.within(1, 60);
  });
});
