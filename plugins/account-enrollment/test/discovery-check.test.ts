import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { adminNavigationPoint } from 'enrollment-gateway/sdk';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { issueTestLeaf } from '../../../test/support/test-tls.js';

const PUBLIC_URL = 'https://gateway.test';

/** An https server for "the organisation's domain" on localhost: relays to the gateway, or answers `status`. */
async function domainServer(gatewayUrl: string, mode: 'relay' | 'missing'): Promise<{ host: string; close(): void }> {
  const leaf = issueTestLeaf(['localhost']);
  const upstream = new URL(gatewayUrl);
  const server: Server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    if (mode === 'missing') {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
      return;
    }
    // The proxy rule an admin adds: /.well-known/com.apple.remotemanagement goes to the gateway.
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `localhost:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('account-enrollment: the admin check that the email domain serves discovery', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway({
      label: 'addecheck',
      enable: ['admin-access', 'mdm', 'account-enrollment', 'admin-center'],
      plugins: [recordingPush({ topic: TEST_TOPIC }).plugin, testAdminTokens],
      config: { publicUrl: PUBLIC_URL, plugins: { 'account-enrollment': { domains: ['contoso.test'] } } },
    });
  });
  after(async () => {
    await gw?.stop();
  });

  const check = async (query = '') => {
    const res = await gw.fetch(`/api/account-enrollment/discovery${query}`, { headers: adminHeaders() });
    expect(res.status).to.equal(200);
    return (await res.json()) as { document: unknown; checks: Record<string, unknown>[] };
  };

  it('is in the admin navigation and needs an admin', async () => {
    const entries = gw.gateway.context('account-enrollment').extensions(adminNavigationPoint);
    expect(entries.map((e) => e.value.path)).to.include('/admin/account-enrollment');
    expect((await gw.fetch('/api/account-enrollment/discovery')).status).to.equal(401);
  });

  it("shows each domain's result on the admin center's page, checked when it opens", async () => {
    const res = await gw.fetch('/admin/account-enrollment', { headers: { ...adminHeaders(), accept: 'text/html' } });
    expect(res.status).to.equal(200);
    const page = await res.text();
    expect(page).to.include('data-domain="contoso.test" data-ok="false"').and.include('no answer from contoso.test');
    expect(page).to.include(`${PUBLIC_URL}/account-enrollment/byod`);
  });

  it('reports a configured domain that does not answer (not set up yet)', async () => {
    const { checks } = await check();
    expect(checks).to.have.length(1);
    expect(checks[0]).to.include({ domain: 'contoso.test', ok: false });
    expect(String(checks[0].problem)).to.match(/^no answer from contoso\.test/);
  });

  it('passes when the domain relays the request to the gateway, and fails when it answers 404', async () => {
    const relay = await domainServer(gw.url, 'relay');
    const missing = await domainServer(gw.url, 'missing');
    try {
      const good = await check(`?domain=${relay.host}`);
      expect(good.checks).to.deep.equal([
        {
          domain: relay.host,
          url: `https://${relay.host}/.well-known/com.apple.remotemanagement`,
          ok: true,
          status: 200,
        },
      ]);
      const bad = await check(`?domain=${missing.host}`);
      expect(bad.checks[0]).to.include({ ok: false, status: 404 });
      expect(String(bad.checks[0].problem)).to.include('redirect or proxy rule');
    } finally {
      relay.close();
      missing.close();
    }
  });

  it('refuses a domain that is not a host name (400)', async () => {
    const res = await gw.fetch('/api/account-enrollment/discovery?domain=evil.test%2F..%2Fx', {
      headers: adminHeaders(),
    });
    expect(res.status).to.equal(400);
  });
});
