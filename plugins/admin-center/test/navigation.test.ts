/**
 * No dead ends: every entry of the admin center's navigation (built-in and contributed by the plugins enabled
 * here) opens an HTML page that answers 2xx, never a 4xx/5xx or raw JSON; and the page's own links to other admin
 * pages do the same. An anonymous browser is sent to a sign-in page, never to a 401.
 */
import { expect } from 'chai';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';

const PLUGINS = [
  'admin-access',
  'admin-passkeys',
  'admin-center',
  'enrollment-profiles',
  'mdm',
  'apns',
  'jit-registration',
  'unenrollment',
  'compliance',
  'webhooks',
];

describe('admin center: every navigation entry leads to a page', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway({
      label: 'adminnav',
      enable: PLUGINS,
      plugins: [testAdminTokens],
      config: { plugins: { webhooks: { endpoints: [] } } },
    });
  });
  after(async () => {
    await gw?.stop();
  });

  async function visit(path: string): Promise<{ status: number; type: string; body: string }> {
    const res = await gw.fetch(path, { headers: { ...adminHeaders(), accept: 'text/html' }, redirect: 'follow' });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  }

  it('opens each entry as HTML with a 2xx status, and each admin link on those pages too', async () => {
    const start = await visit('/admin/setup');
    expect(start.status).to.equal(200);
    const entries = [...start.body.matchAll(/<nav aria-label="Admin sections">([\s\S]*?)<\/nav>/g)][0][1];
    const paths = [...entries.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
    // Built-in entries plus those of compliance, webhooks and admin-passkeys.
    expect(paths).to.include.members([
      '/admin/devices',
      '/admin/compliance',
      '/admin/webhooks',
      '/admin/administrators',
    ]);
    const seen = new Set<string>();
    const failures: string[] = [];
    for (const path of paths) {
      const page = await visit(path);
      seen.add(path);
      if (page.status >= 400 || !page.type.startsWith('text/html')) {
        failures.push(`${path}: ${page.status} ${page.type} ${page.body.slice(0, 120)}`);
        continue;
      }
      // Links from the entry's page to other admin-center pages (GET only), one level deep.
      for (const [, href] of page.body.matchAll(/<a [^>]*href="(\/admin\/[^"#?]*)"/g)) {
        if (seen.has(href)) continue;
        seen.add(href);
        const linked = await visit(href);
        if (linked.status >= 400 || !linked.type.startsWith('text/html')) {
          failures.push(`${href} (linked from ${path}): ${linked.status} ${linked.type}`);
        }
      }
    }
    expect(failures).to.deep.equal([]);
    expect(seen.size).to.be.greaterThan(paths.length);
  });

  it('sends an anonymous browser from any entry to the sign-in page (200), never to a 401', async () => {
    for (const path of ['/admin', '/admin/devices', '/admin/compliance', '/admin/webhooks']) {
      const res = await gw.fetch(path, { headers: { accept: 'text/html' }, redirect: 'follow' });
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/html/);
      expect(await res.text()).to.include('Sign in with a passkey');
    }
  });
});
