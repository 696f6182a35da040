import { expect } from 'chai';
import hello from '../fixtures/plugins/hello/index.js';
import { eventually } from '../support/eventually.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

describe('kernel: a fixture plugin written against the SDK', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      label: 'fixture',
      plugins: [hello],
      config: { plugins: { hello: { greeting: 'Hi' } } },
    });
  });
  after(() => gw?.stop());

  it('mounts a route that uses the service it registered, with its config', async () => {
    const res = await gw.fetch('/hello/greet/Alice');
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ message: 'Hi, Alice!' });
    expect(res.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
  });

  it('runs a BullMQ job through real Redis and stores its result in Mongo', async () => {
    const res = await gw.fetch('/hello/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'ping' }),
    });
    expect(res.status).to.equal(202);
    const { jobId } = (await res.json()) as { jobId: string };
    const deadline = Date.now() + 10_000;
    let body: Record<string, unknown> = { pending: true };
    while (body.pending && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      body = (await (await gw.fetch(`/hello/echo/${jobId}`)).json()) as Record<string, unknown>;
    }
    expect(body).to.deep.equal({ text: 'PING', processedBy: 'hello' });
    // The worker's 'completed' event (which the metric counts) fires just after the job's own write.
    await eventually(async () => {
      const metrics = await gw.metrics();
      expect(metrics).to.match(/gateway_queue_jobs_total\{plugin="hello",queue="hello-echo",outcome="completed"\} 1/);
    });
  });

  it('refuses invalid JSON bodies with problem+json and stores nothing', async () => {
    const res = await gw.fetch('/hello/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: '' }),
    });
    expect(res.status).to.equal(400);
    expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const problem = (await res.json()) as { title: string; issues: { path: string }[] };
    expect(problem.issues[0].path).to.equal('text');
    const counts = await gw.gateway
      .context('hello')
      .queue('hello-echo')
      .queue.getJobCounts('wait', 'active', 'completed');
    expect(counts.wait + counts.active + counts.completed).to.equal(1);
  });
});
