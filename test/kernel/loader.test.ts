import { expect } from 'chai';
import { z } from 'zod';
import { loadGateway } from '../../core/gateway.js';
import {
  CORE_API_VERSION,
  createExtensionPoint,
  createServiceRef,
  definePlugin,
  type PluginDefinition,
} from '../../core/sdk/index.js';
import { eventually } from '../support/eventually.js';
import { startTestGateway } from '../support/gateway.js';

function plugin(name: string, extra: Partial<PluginDefinition> = {}): PluginDefinition {
  return definePlugin({ name, version: '1.0.0', coreApi: '^2.0.0', register() {}, ...extra });
}

async function loadError(plugins: PluginDefinition[], overrides: Record<string, unknown> = {}): Promise<string> {
  try {
    await loadGateway({ role: 'cli', env: {}, plugins, overrides });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected loading to fail');
}

describe('kernel: plugin loader checks', () => {
  it('refuses a missing dependency, naming plugin and dependency', async () => {
    expect(await loadError([plugin('a', { dependsOn: ['b'] })])).to.equal(
      'plugin "a": depends on "b", which is not installed or not enabled',
    );
  });

  it('refuses a dependency that is installed but disabled', async () => {
    const message = await loadError([plugin('a', { dependsOn: ['b'] }), plugin('b')], {
      plugins: { b: { enabled: false } },
    });
    expect(message).to.equal('plugin "a": depends on "b", which is not installed or not enabled');
  });

  it('refuses a cycle and shows it', async () => {
    const message = await loadError([
      plugin('a', { dependsOn: ['b'] }),
      plugin('b', { dependsOn: ['c'] }),
      plugin('c', { dependsOn: ['a'] }),
    ]);
    expect(message).to.equal('plugin "a": dependency cycle a -> b -> c -> a');
  });

  it('refuses a duplicate name', async () => {
    expect(await loadError([plugin('a'), plugin('a')])).to.equal('plugin "a": defined twice (inline and inline)');
  });

  it('refuses an unsupported core API range', async () => {
    expect(await loadError([plugin('future', { coreApi: '^3.0.0' })])).to.equal(
      `plugin "future": supports core API ^3.0.0, but this gateway provides ${CORE_API_VERSION}; upgrade the gateway`,
    );
  });

  it('refuses an unknown plugin config key and a wrong type', async () => {
    const withConfig = plugin('cfg', { config: z.object({ limit: z.number().default(3) }) });
    expect(await loadError([withConfig], { plugins: { cfg: { limt: 4 } } })).to.equal(
      'plugin "cfg": invalid config: unknown setting "limt"',
    );
    expect(await loadError([withConfig], { plugins: { cfg: { limit: 'x' } } })).to.match(
      /^plugin "cfg": invalid config: "limit": /,
    );
  });

  it('takes plugin settings from GATEWAY_PLUGINS__<NAME>__<KEY> and refuses unknown variables', async () => {
    const withConfig = plugin('my-cfg', { config: z.object({ maxDevices: z.number().default(3) }) });
    const gateway = await loadGateway({
      role: 'cli',
      env: { GATEWAY_PLUGINS__MY_CFG__MAX_DEVICES: '9' },
      plugins: [withConfig],
    });
    expect(gateway.plugins.find((p) => p.definition.name === 'my-cfg')?.config).to.deep.equal({ maxDevices: 9 });
    const error = await loadGateway({
      role: 'cli',
      env: { GATEWAY_PLUGINS__MY_CFG__MAX_DEVICE: '9' },
      plugins: [withConfig],
    }).catch((e: Error) => e);
    expect((error as Error).message).to.equal('unknown setting GATEWAY_PLUGINS__MY_CFG__MAX_DEVICE in the environment');
  });

  it('refuses async register and late declarations', async () => {
    expect(await loadError([plugin('slow', { register: (async () => {}) as never })])).to.match(
      /register\(\) must be synchronous/,
    );
  });

  it('refuses a plugin enabled in config that does not exist', async () => {
    expect(await loadError([], { plugins: { ghost: { enabled: true } } })).to.equal(
      'plugin "ghost": enabled in config but not found in plugins/',
    );
  });

  it('refuses two providers of one service', async () => {
    const ref = createServiceRef<number>('shared.value');
    const message = await loadError([
      plugin('one', { register: (api) => api.provide(ref, () => 1) }),
      plugin('two', { register: (api) => api.provide(ref, () => 2) }),
    ]);
    expect(message).to.equal('plugin "two": provides service "shared.value", already provided by "one"');
  });
});

describe('kernel: plugin start order, services and extension points', () => {
  it('starts dependencies first, runs contributions before the owner starts, and stops in reverse', async () => {
    const events: string[] = [];
    const point = createExtensionPoint<string>('owner.items');
    const ref = createServiceRef<{ value: number }>('base.counter');
    const record =
      (name: string): PluginDefinition['register'] =>
      (api) => {
        api.onStart(() => {
          events.push(`start:${name}`);
        });
        api.onStop(() => {
          events.push(`stop:${name}`);
        });
      };
    const plugins = [
      plugin('app', {
        dependsOn: ['owner', 'base'],
        register: (api) => {
          record('app')(api);
          api.contribute(point, (ctx) => {
            events.push('contribute:app');
            return `from app (${ctx.resolve(ref).value})`;
          });
        },
      }),
      plugin('owner', {
        register: (api) => {
          api.extensionPoint(point);
          api.onStart((ctx) => {
            events.push(
              `start:owner sees ${ctx
                .extensions(point)
                .map((c) => `${c.plugin}=${c.value}`)
                .join(',')}`,
            );
          });
        },
      }),
      plugin('base', {
        register: (api) => {
          record('base')(api);
          api.provide(ref, () => ({ value: 42 }));
        },
      }),
    ];
    const gw = await startTestGateway({ label: 'order', plugins });
    expect(gw.gateway.pluginNames).to.deep.equal(['base', 'owner', 'app']);
    await gw.stop();
    expect(events).to.deep.equal([
      'contribute:app',
      'start:base',
      'start:owner sees app=from app (42)',
      'start:app',
      'stop:app',
      'stop:base',
    ]);
  });

  it('refuses to resolve a service of a plugin the caller does not depend on', async () => {
    const ref = createServiceRef<number>('hidden.value');
    let message = '';
    const gw = await startTestGateway({
      label: 'undeclared',
      plugins: [
        plugin('hidden', { register: (api) => api.provide(ref, () => 7) }),
        plugin('sneaky', {
          register: (api) =>
            api.onStart((ctx) => {
              try {
                ctx.resolve(ref);
              } catch (error) {
                message = (error as Error).message;
              }
            }),
        }),
      ],
    });
    await gw.stop();
    expect(message).to.equal('plugin "sneaky" uses service "hidden.value" of plugin "hidden" without depending on it');
  });

  it('isolates a throwing event handler and refuses undeclared events', async () => {
    const seen: string[] = [];
    const gw = await startTestGateway({
      label: 'events',
      plugins: [
        plugin('emitter', { emits: ['device.checkedOut'] }),
        plugin('bad-listener', {
          register: (api) =>
            api.on('device.checkedOut', () => {
              throw new Error('boom');
            }),
        }),
        plugin('good-listener', {
          register: (api) =>
            api.on('device.checkedOut', (payload) => {
              seen.push(payload.udid);
            }),
        }),
      ],
    });
    try {
      const ctx = gw.gateway.context('emitter');
      expect(
        await ctx.events.emit('device.checkedOut', { deviceId: 'd1', udid: 'U1' }, { eventId: 'e1' }),
      ).to.deep.equal({
        recorded: true,
      });
      await eventually(() => expect(seen).to.deep.equal(['U1']));
      await eventually(async () => {
        const metrics = await gw.metrics();
        expect(metrics).to.include(
          'gateway_hook_failures_total{plugin="bad-listener",hook="event:device.checkedOut"} 1',
        );
      });
      const error = await ctx.events
        .emit('device.enrolled', { deviceId: 'd', udid: 'U' }, { eventId: 'e2' })
        .catch((e: Error) => e);
      expect((error as Error).message).to.equal(
        'plugin "emitter" emitted "device.enrolled" without declaring it in "emits"',
      );
    } finally {
      await gw.stop();
    }
  });
});
