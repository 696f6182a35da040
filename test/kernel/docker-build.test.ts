import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { layOutStages, materializeContext, parseDockerfile, type StageLayout } from '../support/docker-layout.js';
import { eventually } from '../support/eventually.js';
import { finished, repoRoot, waitForLine } from '../support/process.js';
import { testServices, uniqueDatabaseUri, uniqueRedisPrefix } from '../support/services.js';

/**
 * Docker cannot run here, so the image is built the way the engine would build it: the context as .dockerignore
 * leaves it, each stage's COPY lines, the build stage's RUN lines (npm ci from the npm cache, the real `npm run
 * build`, the prune), then the runtime stage's files started as its ENTRYPOINT/CMD would start them.
 */
describe('the Docker image builds from its own context and serves', function () {
  this.timeout(300_000);
  let root: string;
  let stages: Map<string, StageLayout>;
  let contextFiles: string[];

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'gateway-image-'));
    contextFiles = materializeContext(repoRoot, path.join(root, 'context'));
    const dockerfile = parseDockerfile(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'));
    stages = layOutStages(dockerfile, {
      context: path.join(root, 'context'),
      root: path.join(root, 'stages'),
      // The CI's `npm ci` filled the cache; an image build has the network instead.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_prefer_offline: 'true' },
      // Outside the build stage, RUN lines change the image's system folders (/usr/local/bin): not this host's.
      run: (stage) => (stage === 'build' ? 'run' : 'skip'),
    });
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('sends no tests, caches or dependencies in the context, and the build needs none of them', () => {
    expect(contextFiles).to.include.members(['Dockerfile', 'package.json', 'core/cli/main.ts', 'config/default.yaml']);
    const leaked = contextFiles.filter((file) => /(^|\/)(test|node_modules|\.git|\.cache|dist)\//.test(file));
    expect(leaked).to.deep.equal([]);
    const build = stages.get('build');
    expect(build?.ran.some((command) => command.includes('npm run build'))).to.equal(true);
  });

  it('ships production dependencies only, and no source or test code', () => {
    const app = path.join(stages.get('runtime')?.rootfs ?? '', 'app');
    expect(existsSync(path.join(app, 'dist/core/cli/main.js'))).to.equal(true);
    expect(existsSync(path.join(app, 'node_modules/koa'))).to.equal(true);
    for (const dev of ['typescript', 'mocha', 'tsx', '@biomejs/biome']) {
      expect(existsSync(path.join(app, 'node_modules', dev)), dev).to.equal(false);
    }
    expect(existsSync(path.join(app, 'core'))).to.equal(false);
    expect(existsSync(path.join(app, 'dist/scripts'))).to.equal(false);
    // What the runtime stage's RUN would do, checked instead of done: it only links the CLI and marks it executable.
    expect(stages.get('runtime')?.skipped).to.deep.equal([
      'ln -s /app/dist/core/cli/main.js /usr/local/bin/gateway && chmod +x dist/core/cli/main.js',
    ]);
  });

  it('starts `serve` from the runtime layout and answers /readyz 200', async () => {
    const runtime = stages.get('runtime');
    if (!runtime) throw new Error('no runtime stage');
    const app = path.join(runtime.rootfs, 'app');
    const child = spawn(process.execPath, [path.join(app, 'dist/core/cli/main.js'), 'serve'], {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        ...runtime.env,
        MONGODB_URI: uniqueDatabaseUri('image'),
        REDIS_URL: testServices().redisUrl,
        GATEWAY_REDIS__PREFIX: uniqueRedisPrefix('image'),
        GATEWAY_HTTP__HOST: '127.0.0.1',
        GATEWAY_HTTP__PORT: '0',
        GATEWAY_SECURITY__MASTER_KEY_FILE: path.join(repoRoot, 'test/fixtures/master-key'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exit = finished(child, 120_000);
    try {
      const [, port] = await waitForLine(child, /"port":(\d+)[^\n]*"msg":"gateway started"/, 90_000);
      await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        expect(res.status, await res.text()).to.equal(200);
      });
    } finally {
      child.kill('SIGTERM');
      const { code, stderr } = await exit;
      expect(code, stderr).to.equal(0);
    }
  });
});
