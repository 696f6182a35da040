import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import {
  ApnsStandin,
  createTestPki,
  type IssuedPushCertificate,
  standinReplies,
  type TestPki,
} from '../../../test/support/apns-standin.js';
import { ApnsClient, jitteredBackoffMs, type MdmPushRequest } from '../src/provider/index.js';

const token = (): string => randomBytes(32).toString('hex');

describe('apns provider: response classes against the HTTP/2 stand-in', () => {
  let pki: TestPki;
  let push: IssuedPushCertificate;
  let standin: ApnsStandin;
  let client: ApnsClient;

  const request = (deviceToken: string, extra: Partial<MdmPushRequest> = {}): MdmPushRequest => ({
    token: deviceToken,
    pushMagic: randomUUID().toUpperCase(),
    topic: push.topic,
    ...extra,
  });

  before(async () => {
    pki = await createTestPki();
    push = await pki.issuePushCertificate();
    standin = await ApnsStandin.start({ pki });
    client = new ApnsClient({ endpoint: standin.url, certPem: push.certPem, keyPem: push.keyPem, ca: pki.ca.certPem });
  });

  after(async () => {
    await client.close();
    await standin.close();
  });

  it('200: sent, with the apns-id, and the request looks like Apple expects', async () => {
    const deviceToken = token();
    const req = request(deviceToken, { priority: 5, expiration: 1_900_000_000 });
    const outcome = await client.send(req);
    expect(outcome.kind).to.equal('sent');
    if (outcome.kind !== 'sent') return;
    expect(outcome.apnsId).to.match(/^[0-9a-f-]{36}$/i);
    const [seen] = standin.requestsFor(deviceToken);
    expect(seen).to.include({
      method: 'POST',
      path: `/3/device/${deviceToken}`,
      topic: push.topic,
      pushType: 'mdm',
      priority: '5',
      expiration: '1900000000',
      pushMagic: req.pushMagic,
      outcome: 200,
    });
    expect(JSON.parse(seen.body)).to.deep.equal({ mdm: req.pushMagic });
  });

  it('defaults to priority 10 and expiration 0', async () => {
    const deviceToken = token();
    await client.send(request(deviceToken));
    const [seen] = standin.requestsFor(deviceToken);
    expect(seen.priority).to.equal('10');
    expect(seen.expiration).to.equal('0');
  });

  it('400 BadDeviceToken and DeviceTokenNotForTopic: invalid-token', async () => {
    const bad = token();
    const otherTopic = token();
    standin.behave(bad, standinReplies.error(400, 'BadDeviceToken'));
    standin.behave(otherTopic, standinReplies.error(400, 'DeviceTokenNotForTopic'));
    expect(await client.send(request(bad))).to.deep.equal({ kind: 'invalid-token', reason: 'BadDeviceToken' });
    expect(await client.send(request(otherTopic))).to.deep.equal({
      kind: 'invalid-token',
      reason: 'DeviceTokenNotForTopic',
    });
  });

  it('a malformed token is caught by the stand-in as BadDeviceToken', async () => {
    expect(await client.send(request('abcd'))).to.deep.equal({ kind: 'invalid-token', reason: 'BadDeviceToken' });
  });

  it('410 Unregistered: invalid-token with the timestamp', async () => {
    const gone = token();
    const timestamp = Date.now() - 60_000;
    standin.behave(gone, standinReplies.error(410, 'Unregistered', { timestamp }));
    expect(await client.send(request(gone))).to.deep.equal({
      kind: 'invalid-token',
      reason: 'Unregistered',
      timestamp,
    });
  });

  it('403 BadCertificate / BadCertificateEnvironment: certificate-problem', async () => {
    const a = token();
    const b = token();
    standin.behave(a, standinReplies.error(403, 'BadCertificate'));
    standin.behave(b, standinReplies.error(403, 'BadCertificateEnvironment'));
    expect(await client.send(request(a))).to.deep.equal({ kind: 'certificate-problem', reason: 'BadCertificate' });
    expect(await client.send(request(b))).to.deep.equal({
      kind: 'certificate-problem',
      reason: 'BadCertificateEnvironment',
    });
  });

  it('a topic that is not the certificate UID is refused (TopicDisallowed): certificate-problem', async () => {
    const outcome = await client.send(request(token(), { topic: 'com.apple.mgmt.External.someone-else' }));
    expect(outcome).to.deep.equal({ kind: 'certificate-problem', reason: 'TopicDisallowed' });
  });

  it('429 TooManyRequests: throttled, honouring Retry-After or the default backoff', async () => {
    const a = token();
    const b = token();
    standin.behave(a, standinReplies.error(429, 'TooManyRequests', { retryAfterSeconds: 3 }));
    standin.behave(b, standinReplies.error(429, 'TooManyRequests'));
    expect(await client.send(request(a))).to.deep.equal({ kind: 'throttled', retryAfterMs: 3000 });
    expect(await client.send(request(b))).to.deep.equal({ kind: 'throttled', retryAfterMs: 1000 });
  });

  it('500 InternalServerError: retryable; sendWithRetry gets through on the third try', async () => {
    const flaky = token();
    standin.behave(
      flaky,
      standinReplies.error(500, 'InternalServerError'),
      standinReplies.error(500, 'InternalServerError'),
      standinReplies.ok(),
    );
    const outcome = await client.sendWithRetry(request(flaky), { baseDelayMs: 5 });
    expect(outcome.kind).to.equal('sent');
    expect(outcome.attempts).to.equal(3);
    expect(standin.requestsFor(flaky).map((r) => r.outcome)).to.deep.equal([500, 500, 200]);
  });

  it('sendWithRetry stops after maxAttempts and returns the last retryable outcome', async () => {
    const down = token();
    standin.behave(down, standinReplies.error(503, 'ServiceUnavailable'));
    const outcome = await client.sendWithRetry(request(down), { maxAttempts: 3, baseDelayMs: 1 });
    expect(outcome).to.deep.equal({ kind: 'retryable', reason: 'ServiceUnavailable', attempts: 3 });
    expect(standin.requestsFor(down)).to.have.length(3);
  });

  it('sendWithRetry does not retry final outcomes', async () => {
    const gone = token();
    standin.behave(gone, standinReplies.error(410, 'Unregistered'));
    const outcome = await client.sendWithRetry(request(gone), { baseDelayMs: 1 });
    expect(outcome).to.deep.equal({ kind: 'invalid-token', reason: 'Unregistered', attempts: 1 });
  });

  it('sendWithRetry retries 429 only when asked, waiting at least Retry-After', async () => {
    const busy = token();
    standin.behave(
      busy,
      standinReplies.error(429, 'TooManyRequests', { retryAfterSeconds: 0.05 }),
      standinReplies.ok(),
    );
    const started = Date.now();
    const outcome = await client.sendWithRetry(request(busy), { retryThrottled: true, baseDelayMs: 1 });
    expect(outcome.kind).to.equal('sent');
    expect(Date.now() - started).to.be.at.least(45);
  });

  it('any other 4xx (413 PayloadTooLarge): rejected with status and reason', async () => {
    const odd = token();
    standin.behave(odd, standinReplies.error(413, 'PayloadTooLarge'));
    expect(await client.send(request(odd))).to.deep.equal({ kind: 'rejected', status: 413, reason: 'PayloadTooLarge' });
  });

  it('a hanging push times out as retryable and the connection stays usable', async () => {
    const quick = new ApnsClient({
      endpoint: standin.url,
      certPem: push.certPem,
      keyPem: push.keyPem,
      ca: pki.ca.certPem,
      requestTimeoutMs: 150,
    });
    try {
      const silent = token();
      standin.behave(silent, standinReplies.hang());
      const outcome = await quick.send(request(silent));
      expect(outcome.kind).to.equal('retryable');
      if (outcome.kind === 'retryable') expect(outcome.reason).to.match(/timeout/);
      expect((await quick.send(request(token()))).kind).to.equal('sent');
      expect(quick.stats.connectionsOpened).to.equal(1);
    } finally {
      await quick.close();
    }
  });

  it('jittered backoff stays within the doubling ceiling and the cap', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(jitteredBackoffMs(1, policy, () => 0.999)).to.equal(99);
    expect(jitteredBackoffMs(3, policy, () => 0.5)).to.equal(200);
    expect(jitteredBackoffMs(10, policy, () => 0.999)).to.equal(999);
    expect(jitteredBackoffMs(4, policy, () => 0)).to.equal(0);
  });
});
