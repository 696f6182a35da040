import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { findBoundaryViolations } from '../support/boundaries.js';
import { repoRoot } from '../support/process.js';

describe('kernel: import boundaries', () => {
  it('holds for every plugin, the core and the SDK of this repository', () => {
    const violations = findBoundaryViolations(repoRoot);
    expect(violations, JSON.stringify(violations, null, 2)).to.deep.equal([]);
  });

  it('catches each kind of violation in a tree that has them', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'boundaries-'));
    try {
      const write = (file: string, text: string) => {
        mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
        writeFileSync(path.join(root, file), text);
      };
      write(
        'plugins/good/index.ts',
        "import { definePlugin } from 'enrollment-gateway/sdk';\nimport { x } from './src/x.js';\nimport koa from 'koa';\nimport fs from 'node:fs';\n",
      );
      write('plugins/good/src/x.ts', "export { y } from '../index.js';\n");
      write(
        'plugins/good/test/x.test.ts',
        "import { startTestGateway } from '../../../test/support/gateway.js';\nimport { startPluginHarness } from 'enrollment-gateway/testing';\n",
      );
      write('plugins/good/src/harnessed.ts', "import { startPluginHarness } from 'enrollment-gateway/testing';\n");
      write('plugins/good/src/sneaky.ts', "import { startTestGateway } from '../../../test/support/gateway.js';\n");
      write(
        'plugins/bad/index.ts',
        [
          "import { loadGateway } from '../../core/gateway.js';",
          "import { secret } from '../good/src/x.js';",
          "import { EventBus } from 'enrollment-gateway/core/event-bus';",
          "const lazy = await import('../good/index.js');",
          "// import { fine } from '../../core/commented-out.js';",
        ].join('\n'),
      );
      write('core/gateway.ts', "import bad from '../plugins/bad/index.js';\n");
      write('core/sdk/index.ts', "import { thing } from '../gateway.js';\n");
      const found = findBoundaryViolations(root).map((v) => `${v.file} -> ${v.specifier}`);
      expect(found).to.have.members([
        'plugins/good/src/sneaky.ts -> ../../../test/support/gateway.js',
        'plugins/good/src/harnessed.ts -> enrollment-gateway/testing',
        'plugins/bad/index.ts -> ../../core/gateway.js',
        'plugins/bad/index.ts -> ../good/src/x.js',
        'plugins/bad/index.ts -> enrollment-gateway/core/event-bus',
        'plugins/bad/index.ts -> ../good/index.js',
        'core/gateway.ts -> ../plugins/bad/index.js',
        'core/sdk/index.ts -> ../gateway.js',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('covers every plugin folder, the partner examples (webhooks, compliance) included', () => {
    const plugins = readdirSync(path.join(repoRoot, 'plugins'));
    expect(plugins).to.include.members(['webhooks', 'compliance']);
    const root = mkdtempSync(path.join(os.tmpdir(), 'boundaries-copy-'));
    try {
      for (const name of plugins) {
        cpSync(path.join(repoRoot, 'plugins', name), path.join(root, 'plugins', name), { recursive: true });
        writeFileSync(
          path.join(root, 'plugins', name, 'planted.ts'),
          "import { EventBus } from '../../core/event-bus.js';\n",
        );
      }
      const found = findBoundaryViolations(root).map((v) => v.file);
      // Violations already in the real tree are the first test's business; here each planted one must be caught.
      expect(found).to.include.members(plugins.map((name) => `plugins/${name}/planted.ts`));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
