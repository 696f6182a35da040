import { randomBytes, X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { buildPkcsReq, derToPem } from '../src/pki/index.js';
import { newRsaKeyPair } from './pki-fixtures.js';

const PUBLIC_URL = 'https://gateway.test';

/**
 * The device-facing limits (`rateLimits.enrollmentLink`, `scep`, `device`) through the real HTTP path, counted in
 * Redis: over the limit a device gets 429 with Retry-After, never 401, and nothing runs behind the refusal.
 */
describe('mdm: rate limits on enrollment links, SCEP and device endpoints', function () {
  this.timeout(120_000);
  let gw: TestGateway;

  const rule = (points: number) => ({ points, windowSeconds: 60 });
  before(async () => {
    gw = await startTestGateway({
      label: 'mdmlimits',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
      config: {
        rateLimits: {
          enabled: true,
          enrollmentLink: { perClient: rule(8), perKey: rule(3) },
          scep: { perClient: rule(6), perKey: rule(50) },
          device: { perClient: rule(1000), perKey: rule(5) },
        },
      },
    });
  });
  after(() => gw?.stop());

  const mint = async (userId: string): Promise<string> => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    expect(res.status).to.equal(201);
    return new URL(((await res.json()) as { profileUrl: string }).profileUrl).pathname;
  };

  const statusesOf = async (requests: (() => Promise<Response>)[]) => {
    const out: Response[] = [];
    for (const request of requests) {
      const res = await request();
      await res.arrayBuffer();
      out.push(res);
    }
    return out;
  };

  it('limits one enrollment link per key, then every link per client (429 with Retry-After)', async () => {
    const link = await mint('links');
    const same = await statusesOf(Array.from({ length: 5 }, () => () => gw.fetch(link)));
    // The first download works, the next two are "already used" (410), then the link's own limit answers.
    expect(same.map((r) => r.status)).to.deep.equal([200, 410, 410, 429, 429]);
    expect(Number(same[3].headers.get('retry-after'))).to.be.within(1, 60);
    // Guessing links: each guess is its own key, but the client's limit (8, five used above) stops the guessing.
    const guesses = await statusesOf(
      Array.from({ length: 5 }, () => () => gw.fetch(`/mdm/enroll/${randomBytes(24).toString('base64url')}`)),
    );
    expect(guesses.map((r) => r.status)).to.deep.equal([404, 404, 404, 429, 429]);
    // The refused requests are logged like the others: without the link's token.
    const token = link.split('/').pop() as string;
    expect(JSON.stringify(gw.logs)).not.to.include(token);
    const limitedLines = gw.logs.filter((line) => line.msg === 'request' && line.status === 429);
    expect(limitedLines.map((line) => line.path)).to.include('/mdm/enroll/[redacted]');
    const metrics = await gw.metrics();
    expect(metrics).to.match(/gateway_rate_limited_total\{[^}]*policy="enrollmentLink"[^}]*scope="key"[^}]*\} 2/);
    expect(metrics).to.match(/gateway_rate_limited_total\{[^}]*policy="enrollmentLink"[^}]*scope="client"[^}]*\} 2/);
  });

  it('limits SCEP PKIOperation per client before any CA work; GetCACert stays free', async () => {
    const ca = Buffer.from(await (await gw.fetch('/scep?operation=GetCACert')).arrayBuffer());
    const keyPair = newRsaKeyPair();
    const request = buildPkcsReq({
      subject: [{ type: 'CN', value: 'flood' }],
      keyPair,
      caCertPem: derToPem(new X509Certificate(ca).raw),
      challenge: 'never-issued',
      transactionId: randomBytes(16).toString('hex'),
    }).der;
    const post = () =>
      gw.fetch('/scep?operation=PKIOperation', {
        method: 'POST',
        headers: { 'content-type': 'application/x-pki-message' },
        body: request,
      });
    const get = () =>
      gw.fetch(`/scep?operation=PKIOperation&message=${encodeURIComponent(request.toString('base64'))}`);
    const answers = await statusesOf([post, post, post, get, get, get, post, get]);
    // Refusals of the challenge are CertRep FAILUREs (200, a signed SCEP reply); the 7th request is over the limit.
    expect(answers.map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200, 200, 429, 429]);
    expect(answers[0].headers.get('content-type')).to.equal('application/x-pki-message');
    expect(answers[6].headers.get('retry-after')).to.match(/^\d+$/);
    expect((await gw.fetch('/scep?operation=GetCACert')).status).to.equal(200);
    expect(await gw.gateway.context('mdm').mongo.collection('mdm_certificates').countDocuments()).to.equal(0);
  });

  it('limits one device identity on /mdm/connect with 429 (never 401); another device is not affected', async () => {
    // The tests above used this client's link and SCEP allowances up: start from fresh counters.
    const redis = gw.gateway.context('mdm').redis;
    const counters = await redis.keys(`${gw.redisPrefix}:rl:*`);
    if (counters.length > 0) await redis.del(...counters);
    const enroll = async (user: string) => {
      const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
      await device.downloadProfile(`${PUBLIC_URL}${await mint(user)}`);
      await device.enroll();
      return device;
    };
    const busy = await enroll('busy');
    const calm = await enroll('calm');
    const idle = () => busy.sendReport({ UDID: busy.udid, Status: 'Idle' });
    const results = [];
    for (let i = 0; i < 6; i += 1) results.push(await idle());
    const statuses = results.map((r) => r.status);
    expect(statuses).not.to.include(401);
    expect(statuses.filter((s) => s === 429).length).to.be.greaterThan(0);
    const limited = results.find((r) => r.status === 429);
    expect(Number(limited?.headers['retry-after'])).to.be.within(1, 60);
    expect((await calm.sendReport({ UDID: calm.udid, Status: 'Idle' })).status).to.equal(200);
  });

  it('a refused identity reads nothing from the database, even on a binding-cache miss; a report that does not parse counts too', async () => {
    const mdm = gw.gateway.context('mdm');
    const counters = await mdm.redis.keys(`${gw.redisPrefix}:rl:*`);
    if (counters.length > 0) await mdm.redis.del(...counters);
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(`${PUBLIC_URL}${await mint('eager')}`);
    await device.enroll();
    // Enrollment's check-ins used some of the identity's five points; reports without their UDID (400) use up the
    // rest: a body that does not parse is counted too.
    const unparsed: number[] = [];
    for (let i = 0; i < 6 && !unparsed.includes(429); i += 1)
      unparsed.push((await device.sendReport({ Status: 'Idle' })).status);
    expect(unparsed.length).to.be.greaterThan(1);
    expect(unparsed).to.deep.equal([...unparsed.slice(0, -1).map(() => 400), 429]);
    // The cached binding is gone: a request let through would read the binding, inventory and presence.
    const entries = await mdm.redis.keys(`${mdm.redisKeyPrefix}binding:*`);
    if (entries.length > 0) await mdm.redis.del(...entries);
    const operations: string[] = [];
    mdm.mongo.set('debug', (collection: string, method: string) => {
      if (collection.startsWith('mdm_')) operations.push(`${collection}.${method}`);
    });
    try {
      expect((await device.sendReport({ UDID: device.udid, Status: 'Idle' })).status).to.equal(429);
      expect((await device.sendReport({ Status: 'Idle' })).status).to.equal(429);
    } finally {
      mdm.mongo.set('debug', undefined);
    }
    expect(operations).to.deep.equal([]);
  });
});
