/**
 * The soak's own servers, each restartable on the same port and data: a dedicated redis-server (killing it disturbs
 * nobody else on the machine) and FerretDB (on the local PostgreSQL when it answers, in its own database; SQLite in a
 * temp dir otherwise).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { answers, ferretDbPostgresUrl, findFerretDb, freePort } from '../lib/local-services.js';

/** SIGKILL, and wait for the exit (nothing to do when the process is gone already). */
export async function killProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopProcess(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([gone, new Promise((r) => setTimeout(r, graceMs))]);
  await killProcess(child);
}

export interface Restartable {
  readonly name: string;
  readonly url: string;
  /** SIGKILL, then wait until the process is gone. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s`);
}

/** A child process started with fixed arguments, killable and restartable. */
class ServerProcess implements Restartable {
  private child: ChildProcess | undefined;

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly port: number,
    private readonly command: string,
    private readonly args: string[],
    private readonly logFile: string,
  ) {}

  async start(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    this.child = spawn(this.command, this.args, { stdio: ['ignore', log, log] });
    const child = this.child;
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with code ${child.exitCode} (${this.logFile})`);
      return answers(this.port);
    }, `${this.name} did not listen on ${this.port}`);
  }

  kill(): Promise<void> {
    return killProcess(this.child);
  }

  stop(): Promise<void> {
    return stopProcess(this.child, 5_000);
  }
}

export interface SoakServices {
  redis: Restartable;
  db: Restartable;
  dir: string;
  cleanup(): Promise<void>;
}

export async function startSoakServices(): Promise<SoakServices> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-soak-'));
  const redisPort = await freePort();
  const redis = new ServerProcess(
    'redis',
    `redis://127.0.0.1:${redisPort}`,
    redisPort,
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    path.join(dir, 'redis.log'),
  );
  const binary = findFerretDb();
  if (!binary) throw new Error('no FerretDB binary: set FERRETDB_BIN or run scripts/ci/build-ferretdb.sh');
  const dbPort = await freePort();
  const { args: backend, drop } = ferretBackend(dir);
  const db = new ServerProcess(
    'db',
    `mongodb://127.0.0.1:${dbPort}/soak`,
    dbPort,
    binary,
    [
      ...backend,
      `--listen-addr=127.0.0.1:${dbPort}`,
      '--telemetry=disable',
      '--log-level=error',
      '--debug-addr=-',
      '--state-dir',
      dir,
    ],
    path.join(dir, 'ferretdb.log'),
  );
  await redis.start();
  await db.start();
  return {
    redis,
    db,
    dir,
    async cleanup() {
      await redis.stop();
      await db.stop();
      drop();
      if (!process.env.SOAK_KEEP_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PostgreSQL (its own database, dropped at the end) when `psql` reaches it; SQLite in `dir` otherwise. */
function ferretBackend(dir: string): { args: string[]; drop: () => void } {
  const pgUrl = process.env.FERRETDB_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
  const database = `ferretdb_soak_${path
    .basename(dir)
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()}`;
  if (process.env.FERRETDB_BACKEND !== 'sqlite') {
    try {
      execFileSync('psql', [`${pgUrl}/postgres`, '-qc', `CREATE DATABASE ${database}`], { stdio: 'ignore' });
      const drop = () => {
        try {
          execFileSync('psql', [`${pgUrl}/postgres`, '-qc', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`], {
            stdio: 'ignore',
          });
        } catch {
          // best effort: a leftover database is harmless
        }
      };
      return { args: ['--handler=postgresql', `--postgresql-url=${ferretDbPostgresUrl(pgUrl, database)}`], drop };
    } catch {
      // no PostgreSQL: SQLite below
    }
  }
  return { args: ['--handler=sqlite', `--sqlite-url=file:${dir}/`], drop: () => undefined };
}
