/**
 * The gateway as production runs it: `core/cli/main.ts serve` (two replicas on their own ports) and `work`, each
 * its own process configured by environment variables, killable with SIGKILL and restartable on the same ports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import path from 'node:path';
import { listBuiltInPlugins } from '../../core/plugins/discover.js';
import { freePort } from '../lib/local-services.js';
import { killProcess, stopProcess } from './services.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
export const SOAK_PUBLIC_URL = 'https://gateway.test';
const ENABLED = new Set(['mdm', 'admin-access', 'apns', 'unenrollment']);

export interface GatewayEnvironment {
  mongodbUri: string;
  redisUrl: string;
  masterKey: string;
  apnsEndpoint: string;
  apnsCaFile: string;
  logDir: string;
}

export function gatewayEnv(config: GatewayEnvironment): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    MONGODB_URI: config.mongodbUri,
    REDIS_URL: config.redisUrl,
    GATEWAY_PUBLIC_URL: SOAK_PUBLIC_URL,
    GATEWAY_SECURITY__MASTER_KEY: config.masterKey,
    GATEWAY_REDIS__PREFIX: 'soak',
    GATEWAY_LOG__LEVEL: process.env.SOAK_LOG_LEVEL ?? 'warn',
    // Every simulated client is 127.0.0.1: one client to the limits.
    GATEWAY_RATE_LIMITS__ENABLED: 'false',
    GATEWAY_PLUGINS__APNS__ENDPOINT: config.apnsEndpoint,
    GATEWAY_PLUGINS__APNS__CA_FILE: config.apnsCaFile,
    // The retirement job looks for the device's answers every 2 s (not every minute), and the sweep resumes an
    // unenrollment whose worker was killed within 10 s.
    GATEWAY_PLUGINS__UNENROLLMENT__POLL_INTERVAL_MS: '2000',
    GATEWAY_PLUGINS__UNENROLLMENT__SWEEP_INTERVAL_MS: '10000',
  };
  for (const name of listBuiltInPlugins()) {
    env[`GATEWAY_PLUGINS__${name.replace(/-/g, '_').toUpperCase()}__ENABLED`] = String(ENABLED.has(name));
  }
  return env;
}

export type GatewayRole = 'serve' | 'work';

export class GatewayProcess {
  private child: ChildProcess | undefined;
  starts = 0;

  private constructor(
    readonly name: string,
    readonly role: GatewayRole,
    readonly httpPort: number,
    readonly opsPort: number,
    private readonly env: Record<string, string>,
    private readonly logFile: string,
  ) {}

  static async create(name: string, role: GatewayRole, env: Record<string, string>, logDir: string) {
    return new GatewayProcess(name, role, await freePort(), await freePort(), env, path.join(logDir, `${name}.log`));
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  async start(timeoutMs = 90_000): Promise<void> {
    const log = openSync(this.logFile, 'a');
    this.starts++;
    this.child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', path.join(repoRoot, 'core/cli/main.ts'), this.role],
      {
        cwd: repoRoot,
        env: {
          ...this.env,
          GATEWAY_HTTP__HOST: '127.0.0.1',
          GATEWAY_HTTP__PORT: String(this.httpPort),
          GATEWAY_OPS__HOST: '127.0.0.1',
          GATEWAY_OPS__PORT: String(this.opsPort),
        },
        stdio: ['ignore', log, log],
      },
    );
    await this.waitReady(timeoutMs);
  }

  /** Polls /readyz until 200; throws if the process exits or the time runs out. */
  async waitReady(timeoutMs: number): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      const child = this.child;
      if (!child || child.exitCode !== null) throw new Error(`${this.name} exited (see ${this.logFile})`);
      if (await this.ready()) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${this.name}: /readyz not 200 within ${timeoutMs / 1000} s (see ${this.logFile})`);
  }

  alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async ready(): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.opsPort}/readyz`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  kill(): Promise<void> {
    return killProcess(this.child);
  }

  stop(): Promise<void> {
    return stopProcess(this.child, 10_000);
  }
}

/** `gateway admin create-api-key` against the soak's database: a key with every scope. */
export async function createAdminKey(env: Record<string, string>): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      path.join(repoRoot, 'core/cli/main.ts'),
      'admin',
      'create-api-key',
      '--name',
      'soak',
      '--scopes',
      '*',
    ],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => {
    stdout += c;
  });
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const key = stdout.trim();
  if (code !== 0 || !key.startsWith('gwk_')) throw new Error(`create-api-key failed (${code}): ${stderr.slice(-500)}`);
  return key;
}
