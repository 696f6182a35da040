import { randomBytes, randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { expect } from 'chai';
import {
  ApnsStandin,
  createTestPki,
  type IssuedPushCertificate,
  standinReplies,
  type TestPki,
} from '../../../test/support/apns-standin.js';
import { ApnsClient, ApnsClientClosedError, type MdmPushRequest, resolveApnsEndpoint } from '../src/provider/index.js';

const token = (): string => randomBytes(32).toString('hex');

describe('apns provider: connections, GOAWAY and stream limits', () => {
  let pki: TestPki;
  let push: IssuedPushCertificate;
  const cleanups: (() => Promise<void>)[] = [];

  const request = (deviceToken: string): MdmPushRequest => ({
    token: deviceToken,
    pushMagic: randomUUID(),
    topic: push.topic,
  });

  async function setup(
    standinOptions: { maxConcurrentStreams?: number } = {},
    clientOptions: { poolSize?: number } = {},
  ): Promise<{ standin: ApnsStandin; client: ApnsClient }> {
    const standin = await ApnsStandin.start({ pki, ...standinOptions });
    const client = new ApnsClient({
      endpoint: standin.url,
      certPem: push.certPem,
      keyPem: push.keyPem,
      ca: pki.ca.certPem,
      ...clientOptions,
    });
    cleanups.push(async () => {
      await client.close();
      await standin.close();
    });
    return { standin, client };
  }

  before(async () => {
    pki = await createTestPki();
    push = await pki.issuePushCertificate();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('respects SETTINGS_MAX_CONCURRENT_STREAMS: 200 concurrent sends over a limit of 10 all succeed, never >10 open', async () => {
    const { standin, client } = await setup({ maxConcurrentStreams: 10 }, { poolSize: 1 });
    const outcomes = await Promise.all(Array.from({ length: 200 }, () => client.send(request(token()))));
    expect(outcomes.filter((o) => o.kind === 'sent')).to.have.length(200);
    expect(standin.maxOpenStreamsPerSession).to.be.at.most(10);
    // The limit was used, not avoided by sending one at a time.
    expect(standin.maxOpenStreamsPerSession).to.be.at.least(5);
    expect(standin.counters.sessions).to.equal(1);
  });

  it('with a pool of 2, spreads load over two long-lived connections, each within the limit', async () => {
    const { standin, client } = await setup({ maxConcurrentStreams: 10 }, { poolSize: 2 });
    const outcomes = await Promise.all(Array.from({ length: 300 }, () => client.send(request(token()))));
    expect(outcomes.every((o) => o.kind === 'sent')).to.equal(true);
    expect(standin.counters.sessions).to.equal(2);
    expect(new Set(standin.requests.map((r) => r.session)).size).to.equal(2);
    expect(standin.maxOpenStreamsPerSession).to.be.at.most(10);
    // Later bursts reuse the same connections.
    await Promise.all(Array.from({ length: 50 }, () => client.send(request(token()))));
    expect(standin.counters.sessions).to.equal(2);
    expect(client.stats.connectionsOpened).to.equal(2);
  });

  it('GOAWAY mid-flight: the refused push is retryable, earlier streams complete, the client reconnects', async () => {
    const { standin, client } = await setup({}, { poolSize: 1 });
    expect((await client.send(request(token()))).kind).to.equal('sent');
    const trigger = token();
    standin.behave(trigger, standinReplies.goaway(), standinReplies.ok());
    const before = Array.from({ length: 5 }, () => client.send(request(token())));
    const refused = client.send(request(trigger));
    const results = await Promise.all(before);
    expect(results.every((o) => o.kind === 'sent')).to.equal(true);
    const outcome = await refused;
    expect(outcome.kind).to.equal('retryable');
    // The next push goes over a fresh connection.
    expect((await client.send(request(trigger))).kind).to.equal('sent');
    expect(standin.counters.sessions).to.equal(2);
    expect(client.stats.connectionsOpened).to.equal(2);
  });

  it('GOAWAY under load: sendWithRetry gets every push through over new connections', async () => {
    const { standin, client } = await setup({ maxConcurrentStreams: 50 }, { poolSize: 2 });
    const tokens = Array.from({ length: 400 }, token);
    standin.behave(tokens[150], standinReplies.goaway(), standinReplies.ok());
    standin.behave(tokens[300], standinReplies.goaway(), standinReplies.ok());
    const outcomes = await Promise.all(tokens.map((t) => client.sendWithRetry(request(t), { baseDelayMs: 5 })));
    expect(outcomes.filter((o) => o.kind !== 'sent')).to.deep.equal([]);
    expect(outcomes.some((o) => o.attempts > 1)).to.equal(true);
    expect(standin.counters.sessions).to.be.greaterThan(2);
  });

  it('a destroyed connection resolves in-flight pushes as retryable, and the next push reconnects', async () => {
    const { standin, client } = await setup({}, { poolSize: 1 });
    const victim = token();
    const stalled = token();
    standin.behave(stalled, standinReplies.hang());
    standin.behave(victim, standinReplies.destroy(), standinReplies.ok());
    const hanging = client.send(request(stalled));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [victimOutcome, hangingOutcome] = await Promise.all([client.send(request(victim)), hanging]);
    expect(victimOutcome.kind).to.equal('retryable');
    expect(hangingOutcome.kind).to.equal('retryable');
    expect((await client.send(request(victim))).kind).to.equal('sent');
    expect(client.stats.connectionsOpened).to.equal(2);
  });

  it('the stand-in requires a client certificate: a bare HTTP/2 client without one is refused', async () => {
    const { standin } = await setup();
    const session = http2.connect(standin.url, { ca: pki.ca.certPem });
    const failure = await new Promise<string>((resolve) => {
      session.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      session.on('close', () => resolve('closed'));
      const stream = session.request({ ':method': 'POST', ':path': `/3/device/${token()}` });
      stream.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      stream.on('response', () => resolve('unexpected response'));
      stream.end('{"mdm":"x"}');
    });
    session.destroy();
    expect(failure).to.not.equal('unexpected response');
    expect(standin.counters.tlsFailures).to.be.at.least(1);
    expect(standin.counters.requests).to.equal(0);
  });

  it('a push certificate from an untrusted issuer: certificate-problem for every queued push, nothing accepted', async () => {
    const { standin } = await setup();
    const rogueCa = await createTestPki();
    const rogue = await rogueCa.issuePushCertificate();
    const client = new ApnsClient({
      endpoint: standin.url,
      certPem: rogue.certPem,
      keyPem: rogue.keyPem,
      ca: pki.ca.certPem,
    });
    cleanups.push(() => client.close());
    const outcomes = await Promise.all([client.send(request(token())), client.send(request(token()))]);
    for (const outcome of outcomes) {
      expect(outcome.kind).to.equal('certificate-problem');
      if (outcome.kind === 'certificate-problem') expect(outcome.reason).to.match(/certificate/i);
    }
    // Not retried in a loop: one connection attempt served both queued pushes.
    expect(client.stats.connectionsOpened).to.equal(1);
    expect(standin.counters.requests).to.equal(0);
    expect(standin.counters.tlsFailures).to.be.at.least(1);
  });

  it('an unreachable endpoint: retryable connection failure, no spinning', async () => {
    const { standin } = await setup();
    const url = standin.url;
    await standin.close();
    const client = new ApnsClient({ endpoint: url, certPem: push.certPem, keyPem: push.keyPem, ca: pki.ca.certPem });
    cleanups.push(() => client.close());
    const outcome = await client.sendWithRetry(request(token()), { maxAttempts: 2, baseDelayMs: 1 });
    expect(outcome.kind).to.equal('retryable');
    expect(outcome.attempts).to.equal(2);
    expect(client.stats.connectionsOpened).to.equal(2);
  });

  it('close() fails pushes still waiting for a connection as retryable', async () => {
    const { client } = await setup();
    const queued = client.send(request(token()));
    await client.close();
    expect(await queued).to.deep.equal({ kind: 'retryable', reason: 'client closed' });
  });

  it('close() lets in-flight pushes finish and refuses new ones', async () => {
    const { client } = await setup();
    expect((await client.send(request(token()))).kind).to.equal('sent');
    const inFlight = client.send(request(token()));
    await new Promise((resolve) => setImmediate(resolve));
    const closing = client.close();
    expect((await inFlight).kind).to.equal('sent');
    await closing;
    let error: unknown;
    await client.send(request(token())).catch((e: unknown) => {
      error = e;
    });
    expect(error).to.be.instanceOf(ApnsClientClosedError);
  });

  it('a server that never completes the handshake: retryable after connectTimeoutMs', async () => {
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const client = new ApnsClient({
      endpoint: `https://127.0.0.1:${port}`,
      certPem: push.certPem,
      keyPem: push.keyPem,
      ca: pki.ca.certPem,
      connectTimeoutMs: 150,
    });
    cleanups.push(async () => {
      await client.close();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const outcome = await client.send(request(token()));
    expect(outcome.kind).to.equal('retryable');
    if (outcome.kind === 'retryable') expect(outcome.reason).to.match(/no HTTP\/2 SETTINGS/);
  });

  it('keepalive pings leave an idle connection usable', async () => {
    const { standin } = await setup();
    const client = new ApnsClient({
      endpoint: standin.url,
      certPem: push.certPem,
      keyPem: push.keyPem,
      ca: pki.ca.certPem,
      pingIntervalMs: 20,
    });
    cleanups.push(() => client.close());
    expect((await client.send(request(token()))).kind).to.equal('sent');
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect((await client.send(request(token()))).kind).to.equal('sent');
    expect(client.stats.connectionsOpened).to.equal(1);
    expect(standin.counters.sessions).to.equal(1);
  });

  it('resolves named environments to Apple hosts', () => {
    expect(resolveApnsEndpoint('production')).to.equal('https://api.push.apple.com');
    expect(resolveApnsEndpoint('development')).to.equal('https://api.sandbox.push.apple.com');
    expect(resolveApnsEndpoint('https://127.0.0.1:8443/')).to.equal('https://127.0.0.1:8443');
  });
});
