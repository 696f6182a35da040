import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { APPLE_SCHEMA_HOWTO, findAppleSchemaDir } from '../support/apple-schema-dir.js';
import { repoRoot } from '../support/process.js';

describe('finding Apple’s schemas (APPLE_SCHEMA_DIR, then ../shared, then .cache)', () => {
  let root: string;
  let repo: string;
  const schemaSet = (dir: string) => {
    for (const sub of ['mdm/profiles', 'mdm/commands', 'mdm/checkin'])
      mkdirSync(path.join(dir, sub), { recursive: true });
    return dir;
  };

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'schemas-'));
    repo = path.join(root, 'repo');
    mkdirSync(repo);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('takes APPLE_SCHEMA_DIR first, and only it when set', () => {
    const explicit = schemaSet(path.join(root, 'elsewhere'));
    schemaSet(path.join(root, 'shared/apple-device-management'));
    expect(findAppleSchemaDir(repo, { APPLE_SCHEMA_DIR: explicit })).to.deep.equal({ found: true, dir: explicit });
    const wrong = path.join(root, 'nowhere');
    expect(findAppleSchemaDir(repo, { APPLE_SCHEMA_DIR: wrong })).to.deep.equal({ found: false, tried: [wrong] });
  });

  it('then ../shared/apple-device-management beside the repository, then .cache/apple-device-management', () => {
    const fetched = schemaSet(path.join(repo, '.cache/apple-device-management'));
    expect(findAppleSchemaDir(repo, {})).to.deep.equal({ found: true, dir: fetched });
    const shared = schemaSet(path.join(root, 'shared/apple-device-management'));
    expect(findAppleSchemaDir(repo, {})).to.deep.equal({ found: true, dir: shared });
  });

  it('ignores a folder without the mdm schema folders, and lists where it looked', () => {
    mkdirSync(path.join(root, 'shared/apple-device-management/mdm/profiles'), { recursive: true });
    expect(findAppleSchemaDir(repo, {})).to.deep.equal({
      found: false,
      tried: [path.join(root, 'shared/apple-device-management'), path.join(repo, '.cache/apple-device-management')],
    });
  });

  it('reports the conformance tests pending with one line when there are none, and fails them when required', function () {
    this.timeout(120_000);
    // .ci/run exports APPLE_SCHEMAS_REQUIRED=1; each case sets it (or not) itself.
    const { APPLE_SCHEMAS_REQUIRED: _inherited, ...baseEnv } = process.env;
    const run = (env: Record<string, string>) => {
      try {
        return {
          code: 0,
          out: execFileSync(
            process.execPath,
            ['--conditions=source', '--import', 'tsx', 'node_modules/mocha/bin/mocha.js', '--reporter', 'dot'],
            {
              cwd: repoRoot,
              env: { ...baseEnv, TEST_SPEC: 'plugins/mdm/test/conformance-validator.test.ts', ...env },
              encoding: 'utf8',
              stdio: ['ignore', 'pipe', 'pipe'],
            },
          ),
        };
      } catch (error) {
        const failed = error as { status: number; stdout: string };
        return { code: failed.status, out: failed.stdout };
      }
    };
    const missing = path.join(root, 'nowhere');
    const pending = run({ APPLE_SCHEMA_DIR: missing });
    expect(pending.code, pending.out).to.equal(0);
    expect(pending.out)
      .to.match(/0 passing/)
      .and.match(/\d+ pending/);
    expect(pending.out.split('\n').filter((line) => line.includes(APPLE_SCHEMA_HOWTO))).to.have.length(1);
    const required = run({ APPLE_SCHEMA_DIR: missing, APPLE_SCHEMAS_REQUIRED: '1' });
    expect(required.code).to.not.equal(0);
    expect(required.out).to.match(/\d+ failing/);
  });
});
