import { expect } from 'chai';
import hello from '../fixtures/plugins/hello/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

describe('kernel: the ops listener serves /metrics, the public listener does not', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  const token = 'metrics-token-for-tests-0123456789';

  before(async () => {
    gw = await startTestGateway({
      label: 'opsport',
      role: 'serve',
      plugins: [hello],
      config: { ops: { metricsToken: token } },
    });
  });
  after(() => gw?.stop());

  it('answers /metrics on the public port with 404 and serves health on both', async () => {
    const publicMetrics = await gw.fetch('/metrics');
    expect(publicMetrics.status).to.equal(404);
    expect(await publicMetrics.text()).not.to.include('gateway_http_requests_total');
    expect((await gw.fetch('/readyz')).status, 'the proxy and compose check the public /readyz').to.equal(200);
    expect((await fetch(`${gw.opsUrl}/readyz`)).status).to.equal(200);
    expect((await fetch(`${gw.opsUrl}/healthz`)).status).to.equal(200);
    expect(gw.opsUrl).not.to.equal(gw.url);
  });

  it('asks for the bearer token when one is configured, and serves Prometheus text with it', async () => {
    const anonymous = await fetch(`${gw.opsUrl}/metrics`);
    expect(anonymous.status).to.equal(401);
    expect(anonymous.headers.get('www-authenticate')).to.match(/^Bearer/);
    const wrong = await fetch(`${gw.opsUrl}/metrics`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
    expect(wrong.status).to.equal(401);
    await gw.fetch('/hello/greet/ops');
    const scraped = await fetch(`${gw.opsUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(scraped.status).to.equal(200);
    expect(scraped.headers.get('content-type')).to.match(/^text\/plain/);
    expect(await scraped.text()).to.match(/gateway_http_requests_total\{[^}]*route="\/hello\/greet\/:name"/);
  });

  it('keeps gauges out of the _total suffix (Prometheus naming)', async () => {
    const text = await (await fetch(`${gw.opsUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1]);
    expect(gauges).to.include('gateway_nodejs_active_handles');
    expect(gauges.filter((name) => name.endsWith('_total'))).to.deep.equal([]);
    const counters = [...text.matchAll(/^# TYPE (\S+) counter$/gm)].map((m) => m[1]);
    expect(counters.filter((name) => !name.endsWith('_total'))).to.deep.equal([]);
  });
});
