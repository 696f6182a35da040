import { expect } from 'chai';
import { finished, spawnTs, waitForLine } from '../support/process.js';
import { testMasterKey, testServices, uniqueDatabaseUri } from '../support/services.js';

describe('kernel: start-up failures and graceful shutdown (real processes)', function () {
  this.timeout(60_000);
  const base = () => ({ MONGODB_URI: uniqueDatabaseUri('life'), REDIS_URL: testServices().redisUrl });

  const expectOneLine = async (env: Record<string, string>, expected: RegExp) => {
    const result = await finished(spawnTs('core/cli/main.ts', ['serve'], env));
    expect(result.code, result.stderr).to.equal(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).to.have.length(1);
    expect(lines[0]).to.match(expected);
    expect(result.stderr).not.to.match(/\n\s+at /);
  };

  it('exits non-zero with one line for an unknown setting', () =>
    expectOneLine(
      { ...base(), GATEWAY_HTTP__PROT: '1' },
      /^gateway: unknown setting GATEWAY_HTTP__PROT in the environment$/,
    ));

  it('exits non-zero with one line for a wrong type', () =>
    expectOneLine(
      { ...base(), GATEWAY_HTTP__PORT: 'eighty' },
      /^gateway: invalid config: "http.port": .*expected number/,
    ));

  it('exits non-zero with one line when MongoDB is unreachable', () =>
    expectOneLine(
      {
        ...base(),
        MONGODB_URI: 'mongodb://127.0.0.1:1/x',
        GATEWAY_MONGODB__SERVER_SELECTION_TIMEOUT_MS: '500',
        GATEWAY_HTTP__PORT: '0',
      },
      /^gateway: cannot reach MongoDB at mongodb:\/\/127\.0\.0\.1:1\/x: /,
    ));

  it('exits non-zero with one line when Redis is unreachable', () =>
    expectOneLine(
      { ...base(), REDIS_URL: 'redis://:hunter2@127.0.0.1:1', GATEWAY_HTTP__PORT: '0' },
      /^gateway: cannot reach Redis at redis:\/\/:\*\*\*\*@127\.0\.0\.1:1: /,
    ));

  it('exits non-zero with one line for a plugin package with a missing dependency', () =>
    expectOneLine(
      { ...base(), GATEWAY_PLUGIN_PACKAGES: '["./test/fixtures/packages/needs-missing/index.ts"]' },
      /^gateway: plugin "needs-missing": depends on "nowhere", which is not installed or not enabled$/,
    ));

  it('completes a slow request in flight when SIGTERM arrives, refuses new connections, and exits 0', async () => {
    const child = spawnTs('test/fixtures/serve-slow.ts', [], base());
    const done = finished(child);
    const [, url] = await waitForLine(child, /listening (http:\S+)/);
    const slow = fetch(`${url}/slow?ms=1500`).then(async (res) => ({ status: res.status, body: await res.json() }));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const refused = await fetch(`${url}/healthz`).then(
      () => 'answered',
      () => 'refused',
    );
    expect(await slow).to.deep.equal({ status: 200, body: { finished: true } });
    expect(refused).to.equal('refused');
    const result = await done;
    expect(result.code, result.stderr).to.equal(0);
  });

  it('ends open event streams first on SIGTERM and exits well inside the grace period', async () => {
    // The admin center's device page stream: it never ends by itself, so before the fix the drain waited the
    // whole http.shutdownGraceMs (25 s).
    const child = spawnTs('test/fixtures/serve-mdm.ts', [], {
      ...base(),
      ENABLE_PLUGINS: 'mdm,admin-access,admin-center',
      GATEWAY_SECURITY__MASTER_KEY: testMasterKey,
    });
    const done = finished(child, 60_000);
    const [, url] = await waitForLine(child, /listening (http:\S+)/);
    const res = await fetch(`${url}/api/admin-center/devices/${'a'.repeat(24)}/events`, {
      headers: { authorization: 'Bearer admin-all' },
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).to.include('retry:');

    const signalled = Date.now();
    child.kill('SIGTERM');
    // The client sees its stream end (EventSource then reconnects, to a replica that stays up).
    for (;;) if ((await reader.read()).done) break;
    const result = await done;
    const seconds = (Date.now() - signalled) / 1000;
    expect(result.code, result.stderr).to.equal(0);
    expect(seconds, 'exit time after SIGTERM').to.be.lessThan(5);
  });
});
