import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { expect } from 'chai';
import hello from '../fixtures/plugins/hello/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start');
}

async function waitForStatus(gw: TestGateway, path: string, status: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await gw.fetch(path)).status;
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} stayed ${last}, expected ${status}`);
}

describe('kernel: operations endpoints', function () {
  this.timeout(60_000);

  it('/readyz flips to 503 when Redis stops and back to 200 when it restarts; /healthz stays up', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    const gw = await startTestGateway({ label: 'readyz', plugins: [hello], redisUrl: `redis://127.0.0.1:${port}` });
    try {
      await waitForStatus(gw, '/readyz', 200);
      redis.kill('SIGKILL');
      await waitForStatus(gw, '/readyz', 503);
      const problem = (await (await gw.fetch('/readyz')).json()) as { title: string; detail: string };
      expect(problem.title).to.equal('Not ready');
      expect(problem.detail).to.match(/redis/);
      expect((await gw.fetch('/healthz')).status).to.equal(200);
      redis = await startRedis(port);
      await waitForStatus(gw, '/readyz', 200);
      expect((await gw.fetch('/hello/greet/back')).status).to.equal(200);
    } finally {
      await gw.stop();
      redis.kill('SIGKILL');
    }
  });

  describe('HTTP conventions', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway({ label: 'http', plugins: [hello], config: { http: { bodyLimitBytes: 1024 } } });
    });
    after(() => gw?.stop());

    it('answers unknown routes with a problem+json 404 and the request id', async () => {
      const res = await gw.fetch('/nowhere', { headers: { 'x-request-id': 'req-12345678' } });
      expect(res.status).to.equal(404);
      expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(res.headers.get('x-request-id')).to.equal('req-12345678');
      expect(await res.json()).to.include({ status: 404, title: 'Not found', instance: 'urn:request:req-12345678' });
    });

    it('sets security headers', async () => {
      const res = await gw.fetch('/healthz');
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(res.headers.get('content-security-policy')).to.include("default-src 'none'");
      expect(res.headers.get('strict-transport-security')).to.match(/max-age=31536000/);
      expect(res.headers.get('x-frame-options')).to.equal('SAMEORIGIN');
    });

    it('refuses bodies over the limit with 413 before any route runs', async () => {
      const res = await gw.fetch('/hello/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'x'.repeat(2000) }),
      });
      expect(res.status).to.equal(413);
      expect((await res.json()) as object).to.include({ title: 'Payload too large' });
    });

    it('answers a wrong method with 405 problem+json', async () => {
      const res = await gw.fetch('/hello/greet/x', { method: 'DELETE' });
      expect(res.status).to.equal(405);
    });

    it('exposes Prometheus metrics with a plugin label', async () => {
      await gw.fetch('/hello/greet/metrics');
      const text = await gw.metrics();
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('gateway_http_requests_total') &&
            l.includes('route="/hello/greet/:name"') &&
            l.includes('status="200"'),
        );
      expect(line).to.include('plugin="hello"');
      expect(text).to.include('gateway_process_resident_memory_bytes');
      expect(text).to.match(/gateway_queue_depth\{plugin="hello",queue="hello-echo",state="wait"\} 0/);
    });

    it('ignores X-Forwarded-For unless trustProxy is set', async () => {
      const res = await gw.fetch('/hello/greet/proxied', { headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(res.status).to.equal(200);
      const line = gw.logs.find((entry) => entry.path === '/hello/greet/proxied');
      expect(line).to.include({ status: 200, ip: '127.0.0.1' });
      const trusting = await startTestGateway({
        label: 'proxy',
        plugins: [hello],
        config: { http: { trustProxy: true } },
      });
      try {
        await trusting.fetch('/hello/greet/proxied', { headers: { 'x-forwarded-for': '203.0.113.9' } });
        expect(trusting.logs.find((entry) => entry.path === '/hello/greet/proxied')).to.include({ ip: '203.0.113.9' });
      } finally {
        await trusting.stop();
      }
    });
  });
});
