import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CORE_API_VERSION as PUBLIC_CORE_API_VERSION } from 'enrollment-gateway/sdk';
import semver from 'semver';
import { loadGateway } from '../../core/gateway.js';
import { importBuiltIn, listBuiltInPlugins } from '../../core/plugins/discover.js';
import { CORE_API_VERSION, definePlugin, type PluginDefinition } from '../../core/sdk/index.js';
import { startTestGateway } from '../support/gateway.js';

const plugin = (name: string, coreApi: string): PluginDefinition =>
  definePlugin({ name, version: '1.0.0', coreApi, register() {} });

async function loadError(plugins: PluginDefinition[], options: { appRoot?: string } = {}): Promise<string> {
  try {
    await loadGateway({ role: 'cli', env: {}, plugins, ...options });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected loading to fail');
}

// Written against the running version, so a minor bump (which only adds) needs no edit here.
const [MAJOR, MINOR] = CORE_API_VERSION.split('.').map(Number);
const NEXT_MINOR = `^${MAJOR}.${MINOR + 1}.0`;

describe('kernel: the SDK is versioned with semver and the loader checks each plugin range', () => {
  it('is a 2.x version, the same through the package export and in every plugin context', async () => {
    expect(CORE_API_VERSION).to.match(/^2\.\d+\.\d+$/);
    expect(PUBLIC_CORE_API_VERSION).to.equal(CORE_API_VERSION);
    const gw = await startTestGateway({ label: 'version', plugins: [plugin('reader', '^2.0.0')] });
    try {
      expect(gw.gateway.context('reader').gateway.coreApiVersion).to.equal(CORE_API_VERSION);
    } finally {
      await gw.stop();
    }
  });

  it('loads every plugin whose range holds this version, including ranges written for 2.0 (a later minor only adds)', async () => {
    const ranges = ['^2.0.0', '^2.1.0', `^2.${MINOR}.0`, '2.x', '>=1.0.0 <3.0.0', `~2.${MINOR}.0`, '^1.1.0 || ^2.0.0'];
    const gateway = await loadGateway({
      role: 'cli',
      env: {},
      plugins: ranges.map((range, i) => plugin(`range-${i}`, range)),
    });
    expect(gateway.pluginNames).to.include.members(ranges.map((_, i) => `range-${i}`));
  });

  it('refuses a plugin that needs a newer minor or major, and says to upgrade the gateway', async () => {
    expect(await loadError([plugin('needs-newer', NEXT_MINOR)])).to.equal(
      `plugin "needs-newer": supports core API ${NEXT_MINOR}, but this gateway provides ${CORE_API_VERSION}; upgrade the gateway`,
    );
    expect(await loadError([plugin('future', '^3.0.0')])).to.equal(
      `plugin "future": supports core API ^3.0.0, but this gateway provides ${CORE_API_VERSION}; upgrade the gateway`,
    );
  });

  it('refuses a plugin built for 1.x (events changed in 2.0), and says to install one built for this core API', async () => {
    expect(await loadError([plugin('pinned', '^1.1.0')])).to.equal(
      `plugin "pinned": supports core API ^1.1.0, but this gateway provides ${CORE_API_VERSION}; install a version of the plugin built for this core API`,
    );
    expect(await loadError([plugin('ancient', '<1.0.0')])).to.match(/install a version of the plugin built for this/);
  });

  it('refuses a range that is not semver, or none at all', async () => {
    expect(await loadError([plugin('odd', 'banana')])).to.equal('plugin "odd": coreApi "banana" is not a semver range');
    const missing = { name: 'bare', version: '1.0.0', register() {} } as unknown as PluginDefinition;
    expect(await loadError([missing])).to.equal(
      `plugin "bare": coreApi is missing: declare the core API range it supports, e.g. "^2.${MINOR}.0"`,
    );
  });

  it('accepts the range of every built-in plugin', async () => {
    for (const name of listBuiltInPlugins()) {
      const { definition } = await importBuiltIn(name);
      expect(semver.satisfies(CORE_API_VERSION, definition.coreApi), `${name}: ${definition.coreApi}`).to.equal(true);
    }
  });

  it('checks npm plugin packages the same way, before anything starts', async () => {
    const appRoot = mkdtempSync(path.join(os.tmpdir(), 'npm-plugin-'));
    try {
      mkdirSync(path.join(appRoot, 'config'));
      writeFileSync(path.join(appRoot, 'config', 'default.yaml'), 'pluginPackages: ["@acme/gateway-plugin"]\n');
      writeFileSync(path.join(appRoot, 'package.json'), '{"name":"partner-app","type":"module"}');
      const pkg = path.join(appRoot, 'node_modules', '@acme', 'gateway-plugin');
      mkdirSync(pkg, { recursive: true });
      writeFileSync(
        path.join(pkg, 'package.json'),
        '{"name":"@acme/gateway-plugin","type":"module","main":"index.js"}',
      );
      writeFileSync(
        path.join(pkg, 'index.js'),
        `export default { name: 'acme', version: '2.0.0', coreApi: '^2.${MINOR + 2}.0', register() {} };\n`,
      );
      expect(await loadError([], { appRoot })).to.equal(
        `plugin "acme": supports core API ^2.${MINOR + 2}.0, but this gateway provides ${CORE_API_VERSION}; upgrade the gateway`,
      );
    } finally {
      rmSync(appRoot, { recursive: true, force: true });
    }
  });
});
