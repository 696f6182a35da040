import { expect } from 'chai';
import { z } from 'zod';
import {
  askVetoPoint,
  collectExtensions,
  createExtensionPoint,
  definePlugin,
  ExtensionFailedError,
  enrollmentPayloadsPoint,
  ProblemError,
  VetoError,
} from '../../core/sdk/index.js';
import { eventually } from '../support/eventually.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startPluginHarness } from '../support/harness.js';

const base = { version: '1.0.0', coreApi: '^2.0.0' } as const;

interface Item {
  title(): Promise<string>;
}
const itemsPoint = createExtensionPoint<Item>('owner.items');
const gatesPoint = createExtensionPoint<{ check(subject: string): Promise<void> }>('owner.gates');

/** Owns two points and asks them the isolated way (items) and the fail-closed way (gates). */
const owner = definePlugin({
  ...base,
  name: 'owner',
  emits: ['device.checkedOut'],
  register(api) {
    api.extensionPoint(itemsPoint);
    api.extensionPoint(gatesPoint);
    api.queue<{ udid: string }>({
      name: 'owner-jobs',
      processor: async (job, ctx) => {
        await ctx.events.emit(
          'device.checkedOut',
          { deviceId: 'd-job', udid: job.data.udid },
          { eventId: `checkout:${job.data.udid}` },
        );
        return { emitted: true };
      },
    });
    api.routes({
      prefix: '/owner',
      mount(router, ctx) {
        router.post('/checkout/:udid', async (koa) => {
          await ctx.events.emit(
            'device.checkedOut',
            { deviceId: 'd-http', udid: koa.params.udid },
            { eventId: `checkout:${koa.params.udid}` },
          );
          koa.body = { emitted: true };
        });
        router.get('/items', async (koa) => {
          const outcomes = await collectExtensions(ctx, itemsPoint, (item) => item.title(), { timeoutMs: 300 });
          koa.body = outcomes;
        });
        router.post('/gate/:subject', async (koa) => {
          try {
            await askVetoPoint(ctx, gatesPoint, (gate) => gate.check(koa.params.subject), { timeoutMs: 300 });
          } catch (error) {
            if (VetoError.is(error))
              throw new ProblemError(403, 'Refused', error.userMessage, { extensions: { vetoedBy: error.plugin } });
            if (ExtensionFailedError.is(error))
              throw new ProblemError(503, 'Unavailable', `${error.message}; try again later`);
            throw error;
          }
          koa.body = { allowed: true };
        });
      },
    });
  },
});

const contributor = (name: string, title: () => Promise<string>, check: (subject: string) => Promise<void>) =>
  definePlugin({
    ...base,
    name,
    dependsOn: ['owner'],
    register(api) {
      api.contribute(itemsPoint, () => ({ title }));
      api.contribute(gatesPoint, () => ({ check }));
    },
  });

const never = () => new Promise<never>(() => {});

describe('kernel: isolation of plugin hooks', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  const seen: string[] = [];
  const metric = async (pattern: RegExp) => {
    const text = await gw.metrics();
    return text.split('\n').find((line) => pattern.test(line));
  };

  before(async () => {
    gw = await startTestGateway({
      label: 'isolation',
      config: { events: { attempts: 1 } },
      plugins: [
        owner,
        definePlugin({
          ...base,
          name: 'bad-listener',
          register: (api) =>
            api.on('device.checkedOut', () => {
              throw new Error('listener bug');
            }),
        }),
        definePlugin({
          ...base,
          name: 'good-listener',
          register: (api) => api.on('device.checkedOut', (event) => void seen.push(event.udid)),
        }),
        contributor(
          'good',
          async () => 'from good',
          async () => undefined,
        ),
        contributor(
          'thrower',
          async () => {
            throw new Error('contribution bug');
          },
          async (subject) => {
            if (subject === 'broken') throw new Error('gate bug');
          },
        ),
        contributor('sleeper', never, async (subject) => {
          if (subject === 'slow') await never();
          if (subject === 'mallory') throw new VetoError('sleeper', 'Mallory may not pass.');
        }),
      ],
    });
  });
  after(() => gw?.stop());

  it('a throwing event handler never fails the request that raised the event; it is logged and counted', async () => {
    const res = await gw.fetch('/owner/checkout/U-HTTP', { method: 'POST' });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ emitted: true });
    await eventually(() => expect(seen).to.include('U-HTTP'));
    const logged = await eventually(() => {
      const line = gw.logs.find((l) => l.plugin === 'bad-listener' && l.eventId === 'checkout:U-HTTP');
      expect(line).to.not.equal(undefined);
      return line;
    });
    // One try only in this gateway (events.attempts 1): its failure is the last try, logged as an error.
    expect(logged).to.include({ event: 'device.checkedOut', level: 50 });
    expect((logged?.err as { message?: string } | undefined)?.message).to.equal('listener bug');
    await eventually(async () =>
      expect(
        await metric(/^gateway_hook_failures_total\{plugin="bad-listener",hook="event:device.checkedOut"\}/),
      ).to.match(/ 1$/),
    );
  });

  it('nor the worker job that raised it', async () => {
    const handle = gw.gateway.context('owner').queue<{ udid: string }>('owner-jobs');
    const job = await handle.add('emit', { udid: 'U-JOB' });
    await eventually(async () => expect(await job.getState()).to.equal('completed'));
    expect((await handle.queue.getJob(job.id!))?.returnvalue).to.deep.equal({ emitted: true });
    await eventually(() => expect(seen).to.include('U-JOB'));
    await eventually(async () =>
      expect(
        await metric(/^gateway_hook_failures_total\{plugin="bad-listener",hook="event:device.checkedOut"\}/),
      ).to.match(/ 2$/),
    );
  });

  it('an isolated extension call leaves out contributions that throw or hang, counting each contributor', async () => {
    const started = Date.now();
    const res = await gw.fetch('/owner/items');
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal([{ plugin: 'good', value: 'from good' }]);
    expect(Date.now() - started, 'waits no longer than the timeout').to.be.below(3_000);
    for (const contributorName of ['thrower', 'sleeper']) {
      const line = await metric(
        new RegExp(`^gateway_extension_failures_total\\{point="owner.items",contributor="${contributorName}"`),
      );
      expect(line, contributorName).to.match(/plugin="owner"\} 1$/);
    }
  });

  it('a veto point fails closed: a veto refuses with its message, a broken or hanging contribution refuses too', async () => {
    expect(await (await gw.fetch('/owner/gate/alice', { method: 'POST' })).json()).to.deep.equal({ allowed: true });

    const vetoed = await gw.fetch('/owner/gate/mallory', { method: 'POST' });
    expect(vetoed.status).to.equal(403);
    expect(await vetoed.json()).to.include({ detail: 'Mallory may not pass.', vetoedBy: 'sleeper' });

    const broken = await gw.fetch('/owner/gate/broken', { method: 'POST' });
    expect(broken.status).to.equal(503);
    expect(((await broken.json()) as { detail: string }).detail).to.equal(
      'the thrower plugin could not answer (owner.gates); try again later',
    );
    const slow = await gw.fetch('/owner/gate/slow', { method: 'POST' });
    expect(slow.status).to.equal(503);
    expect(((await slow.json()) as { detail: string }).detail).to.match(/^the sleeper plugin could not answer/);
    expect(await metric(/^gateway_extension_vetoes_total\{point="owner.gates",contributor="sleeper"/)).to.match(/ 1$/);
    expect(
      gw.logs.some((l) => l.msg === 'veto contribution failed; refusing (fail closed)' && l.contributor === 'thrower'),
    ).to.equal(true);
  });
});

describe('kernel: a hanging event handler', function () {
  this.timeout(30_000);

  it('never holds the emitter; it counts as failed after the handler timeout, and is retried', async () => {
    const calls: number[] = [];
    const gw = await startTestGateway({
      label: 'hanging',
      // Two tries, 150 ms each: the second one is the last, logged as such.
      config: { events: { handlerTimeoutMs: 150, attempts: 2, backoffMs: 50 } },
      plugins: [
        definePlugin({ ...base, name: 'emitter', emits: ['device.checkedOut'], register() {} }),
        definePlugin({
          ...base,
          name: 'slowpoke',
          register: (api) =>
            api.on('device.checkedOut', (_event, _ctx, meta) => {
              calls.push(meta.attempt);
              return never();
            }),
        }),
      ],
    });
    try {
      const started = Date.now();
      const ctx = gw.gateway.context('emitter');
      await ctx.events.emit('device.checkedOut', { deviceId: 'd', udid: 'U' }, { eventId: 'hang-1' });
      expect(Date.now() - started, 'emit waits for no handler').to.be.below(1_000);
      await eventually(() => expect(calls).to.deep.equal([1, 2]));
      const lines = await eventually(() => {
        const found = gw.logs.filter((l) => l.plugin === 'slowpoke' && l.eventId === 'hang-1');
        expect(found).to.have.length(2);
        return found;
      });
      expect(lines.map((l) => [l.msg, l.level])).to.deep.equal([
        ['event handler failed; retrying with backoff', 40],
        ['event handler failed on its last try; the sweep retries it', 50],
      ]);
      expect((lines[0].err as { message?: string }).message).to.equal(
        'the slowpoke handler of device.checkedOut did not answer within 150 ms',
      );
      const metrics = await gw.metrics();
      expect(metrics).to.include('gateway_hook_failures_total{plugin="slowpoke",hook="event:device.checkedOut"} 2');
    } finally {
      await gw.stop();
    }
  });
});

describe('kernel: each plugin has its own logger, metric labels and config section', function () {
  this.timeout(30_000);

  it('labels log lines and metric series with the plugin, which a plugin cannot override', async () => {
    const recorder = (name: string) =>
      definePlugin({
        ...base,
        name,
        config: z.object({ greeting: z.string().default(`hello from ${name}`) }),
        register(api) {
          api.onStart((ctx) => {
            ctx.logger.info({ plugin: 'someone-else' }, ctx.config.greeting);
            ctx.metrics
              .counter('partner_things_total', 'Things', ['kind'])
              .inc({ kind: 'a', plugin: 'someone-else' } as never);
          });
        },
      });
    const gw = await startTestGateway({
      label: 'perplugin',
      plugins: [recorder('alpha'), recorder('beta')],
      config: { plugins: { beta: { greeting: 'hi from config' } } },
    });
    try {
      const alpha = gw.logs.find((l) => l.msg === 'hello from alpha');
      const beta = gw.logs.find((l) => l.msg === 'hi from config');
      expect(alpha?.plugin).to.equal('alpha');
      expect(beta?.plugin).to.equal('beta');
      const metrics = await gw.metrics();
      expect(metrics).to.include('gateway_partner_things_total{kind="a",plugin="alpha"} 1');
      expect(metrics).to.include('gateway_partner_things_total{kind="a",plugin="beta"} 1');
      expect(metrics).not.to.include('plugin="someone-else"');
    } finally {
      await gw.stop();
    }
  });

  it("validates each section against the plugin's own schema: defaults, transforms, and errors naming the plugin", async () => {
    const strictOne = definePlugin({
      ...base,
      name: 'strict-one',
      config: z.object({
        limit: z.number().int().max(10).default(3),
        tags: z
          .string()
          .default('a,b')
          .transform((s) => s.split(',')),
      }),
      register() {},
    });
    const looseTwo = definePlugin({
      ...base,
      name: 'loose-two',
      config: z.object({ limit: z.string().default('any') }),
      register() {},
    });
    const gw = await startTestGateway({
      label: 'sections',
      plugins: [strictOne, looseTwo],
      config: { plugins: { 'loose-two': { limit: 'many' } } },
    });
    try {
      expect(gw.gateway.context('strict-one').config).to.deep.equal({ limit: 3, tags: ['a', 'b'] });
      expect(gw.gateway.context('loose-two').config).to.deep.equal({ limit: 'many' });
    } finally {
      await gw.stop();
    }
    const error = await startTestGateway({
      label: 'sections2',
      plugins: [strictOne, looseTwo],
      config: { plugins: { 'strict-one': { limit: 11 }, 'loose-two': { limit: 'many' } } },
    }).catch((e: Error) => e);
    expect((error as Error).message).to.match(/^plugin "strict-one": invalid config: "limit": /);
  });
});

describe('kernel: enrollment payload veto through the real mdm plugin', function () {
  this.timeout(60_000);

  it('shows a VetoError message, and refuses with a clear 503 when a contributor breaks, storing nothing', async () => {
    let mode: 'veto' | 'broken' | 'fine' = 'veto';
    const policy = definePlugin({
      ...base,
      name: 'partner-policy',
      dependsOn: ['mdm'],
      register(api) {
        api.contribute(enrollmentPayloadsPoint, () => ({
          async payloads() {
            if (mode === 'veto') throw new VetoError('partner-policy', 'Finish the security training first.');
            if (mode === 'broken') throw new TypeError('cannot read properties of undefined');
            return [];
          },
        }));
      },
    });
    const h = await startPluginHarness({ plugins: [policy] });
    try {
      const mint = () =>
        h.adminFetch('/api/mdm/enrollments', { method: 'POST', body: JSON.stringify({ userId: 'u1' }) });
      const sessions = () => h.context('mdm').mongo.collection('mdm_enrollments').countDocuments();
      const vetoed = await mint();
      expect(vetoed.status).to.equal(403);
      expect(await vetoed.json()).to.include({
        detail: 'Finish the security training first.',
        vetoedBy: 'partner-policy',
      });
      mode = 'broken';
      const broken = await mint();
      expect(broken.status).to.equal(503);
      const problem = (await broken.json()) as { detail: string };
      expect(problem.detail).to.match(/partner-policy/);
      expect(problem.detail).not.to.match(/cannot read properties/);
      expect(await sessions()).to.equal(0);
      mode = 'fine';
      expect((await mint()).status).to.equal(201);
      expect(await sessions()).to.equal(1);
    } finally {
      await h.stop();
    }
  });
});
