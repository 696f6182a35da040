import { expect } from 'chai';
import { runCli } from '../../core/cli/run.js';
import { listBuiltInPlugins } from '../../core/plugins/discover.js';
import hello from '../fixtures/plugins/hello/index.js';
import { startTestGateway } from '../support/gateway.js';
import { testServices, uniqueDatabaseUri } from '../support/services.js';

describe('kernel: roles from one build', function () {
  this.timeout(30_000);

  it('serve accepts work, a separate work process runs it, and serve alone runs no workers', async () => {
    const serve = await startTestGateway({ label: 'roles', role: 'serve', plugins: [hello] });
    const work = await startTestGateway({
      label: 'roles',
      role: 'work',
      plugins: [hello],
      mongodbUri: serve.mongodbUri,
      redisPrefix: serve.redisPrefix,
    });
    try {
      expect((await work.fetch('/readyz')).status, 'the work role answers health on its ops port').to.equal(200);
      expect((await work.fetch('/hello/greet/x')).status, 'the work role serves no plugin routes').to.equal(404);
      const res = await serve.fetch('/hello/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"text":"role"}',
      });
      const { jobId } = (await res.json()) as { jobId: string };
      let body: Record<string, unknown> = { pending: true };
      for (let i = 0; i < 100 && body.pending; i++) {
        await new Promise((r) => setTimeout(r, 50));
        body = (await (await serve.fetch(`/hello/echo/${jobId}`)).json()) as Record<string, unknown>;
      }
      expect(body).to.deep.equal({ text: 'ROLE', processedBy: 'hello' });
    } finally {
      await work.stop();
      await serve.stop();
    }
  });

  it('runs a plugin admin command through the gateway CLI with the plugin started', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const env = {
      MONGODB_URI: uniqueDatabaseUri('cli'),
      REDIS_URL: testServices().redisUrl,
      GATEWAY_PLUGIN_PACKAGES: '["./test/fixtures/packages/cli-command/index.ts"]',
      GATEWAY_LOG__LEVEL: 'error',
      ...Object.fromEntries(
        listBuiltInPlugins().map((name) => [
          `GATEWAY_PLUGINS__${name.toUpperCase().replace(/-/g, '_')}__ENABLED`,
          'false',
        ]),
      ),
    };
    const code = await runCli(['fixture', 'count-users', 'nothing-here'], env, {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    expect(err).to.deep.equal([]);
    expect(out).to.deep.equal(['count=0']);
    expect(code).to.equal(0);
    const unknown = await runCli(['fixture', 'nope'], env, { out: () => undefined, err: (l) => err.push(l) });
    expect(unknown).to.equal(2);
    expect(err[0]).to.match(/unknown command "fixture nope"/);
  });
});
