import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runCli } from '../../core/cli/run.js';
import { loadGateway } from '../../core/gateway.js';
import { repoRoot } from '../support/process.js';

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('kernel: configuration', () => {
  it('layers defaults < file < environment, with MONGODB_URI and REDIS_URL aliases', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, 'http:\n  port: 9000\n  trustProxy: true\nlog:\n  level: debug\n');
    const gateway = await loadGateway({
      role: 'cli',
      env: {
        GATEWAY_CONFIG_FILE: file,
        GATEWAY_HTTP__PORT: '9100',
        MONGODB_URI: 'mongodb://db.example/x',
        REDIS_URL: 'redis://cache.example:6380',
      },
    });
    expect(gateway.config.http).to.include({ port: 9100, trustProxy: true, host: '0.0.0.0' });
    expect(gateway.config.log.level).to.equal('debug');
    expect(gateway.config.mongodb.uri).to.equal('mongodb://db.example/x');
    expect(gateway.config.redis.url).to.equal('redis://cache.example:6380');
  });

  it('refuses a config file with an unknown key, naming it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const file = path.join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify({ http: { prot: 1 } }));
    const result = await cli(['config', 'print'], { GATEWAY_CONFIG_FILE: file });
    expect(result.code).to.equal(1);
    expect(result.err).to.equal('gateway: invalid config: unknown setting "http.prot"');
  });

  it('prints the effective config with every secret masked', async () => {
    const masterKey = Buffer.alloc(32, 1).toString('base64');
    const result = await cli(['config', 'print'], {
      MONGODB_URI: 'mongodb://user:pw@db/x',
      REDIS_URL: 'redis://:pw@cache',
      GATEWAY_SECURITY__MASTER_KEY: masterKey,
    });
    expect(result.code, result.err).to.equal(0);
    const printed = JSON.parse(result.out);
    expect(printed.mongodb.uri).to.equal('********');
    expect(printed.redis.url).to.equal('********');
    expect(printed.security.masterKey).to.equal('********');
    expect(result.out).not.to.include(masterKey);
    expect(result.out).not.to.include('pw@');
  });

  it('refuses a master key that is not 32 bytes', async () => {
    const result = await cli(['config', 'print'], { GATEWAY_SECURITY__MASTER_KEY: 'c2hvcnQ=' });
    expect(result.err).to.equal(
      'gateway: invalid config: "security.masterKey": must be 32 random bytes, base64-encoded',
    );
  });

  it('keeps .env.example in step with the schemas of the core and the built-in plugins', async () => {
    const result = await cli(['config', 'env-example'], {});
    expect(result.code, result.err).to.equal(0);
    const committed = readFileSync(path.join(repoRoot, '.env.example'), 'utf8').trim();
    expect(committed, 'regenerate with: npm run -s gateway -- config env-example > .env.example').to.equal(
      result.out.trim(),
    );
  });
});

describe('kernel: configuration from files named by *_FILE', () => {
  it('reads a secret from GATEWAY_SECURITY__MASTER_KEY_FILE and refuses a missing file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const keyFile = path.join(dir, 'master-key');
    const key = Buffer.alloc(32, 3).toString('base64');
    writeFileSync(keyFile, `${key}\n`);
    const gateway = await loadGateway({ role: 'cli', env: { GATEWAY_SECURITY__MASTER_KEY_FILE: keyFile } });
    expect(gateway.config.security.masterKey).to.equal(key);
    const error = await loadGateway({
      role: 'cli',
      env: { GATEWAY_SECURITY__MASTER_KEY_FILE: path.join(dir, 'nope') },
    }).catch((e: Error) => e);
    expect((error as Error).message).to.match(/GATEWAY_SECURITY__MASTER_KEY_FILE names .*nope, which does not exist/);
  });
});
