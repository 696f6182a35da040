/**
 * Local MongoDB-wire (FerretDB) and Redis servers for tests and benchmarks, started on demand
 * and stopped with the returned handle.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const children: ChildProcess[] = [];
const tempDirs: string[] = [];
const cleanups: (() => void)[] = [];

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export function answers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function waitForPort(port: number, what: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    if (await answers(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port} within 30 s`);
}

export function findFerretDb(): string | undefined {
  const cache =
    process.env.GATEWAY_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'enrollment-gateway');
  const candidates = [process.env.FERRETDB_BIN, path.join(cache, 'bin', 'ferretdb-v1.24.2')];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v ferretdb'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * FerretDB 1.24 holds one PostgreSQL connection while an update reads the documents it matched and takes a second
 * to write each one: with more concurrent updates than half its pool (50 by default), every one of them holds one
 * and waits for another, and the whole server stops answering (seen in a full test run: 72 updates stuck; 200
 * concurrent updateOne calls from one client with the driver's default pool hang on a pool of 50 and finish in
 * 3.6 s on 200). Its pool takes what PostgreSQL allows, leaving room for other clients; `npm test` also caps each
 * client's pool.
 */
export function ferretDbPostgresUrl(pgUrl: string, database: string): string {
  let allowed = 100;
  try {
    allowed = Number(
      execFileSync('psql', [`${pgUrl}/postgres`, '-Atc', 'SHOW max_connections'], { encoding: 'utf8' }).trim(),
    );
  } catch {
    // the default below
  }
  const pool = Math.max(50, Math.min(200, allowed - 40));
  return `${pgUrl}/${database}?pool_max_conns=${pool}`;
}

/**
 * FerretDB's SQLite backend refuses concurrent writers (SQLITE_BUSY), so the local PostgreSQL is
 * preferred when it answers (each run gets its own database); SQLite in a temp dir otherwise.
 * FERRETDB_BACKEND=sqlite|postgresql forces one.
 */
async function ferretDbBackend(dir: string): Promise<string[]> {
  const wanted = process.env.FERRETDB_BACKEND;
  const pgUrl = process.env.FERRETDB_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
  const pg = new URL(pgUrl);
  if (wanted !== 'sqlite' && (await answers(Number(pg.port || 5432), pg.hostname))) {
    const database = `ferretdb_${path
      .basename(dir)
      .replace(/[^a-z0-9]/gi, '')
      .toLowerCase()}`;
    try {
      execFileSync('psql', [pgUrl + '/postgres', '-qc', `CREATE DATABASE ${database}`], { stdio: 'ignore' });
      cleanups.push(() => {
        try {
          execFileSync('psql', [pgUrl + '/postgres', '-qc', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`], {
            stdio: 'ignore',
          });
        } catch {
          // best effort: a leftover database is harmless
        }
      });
      return ['--handler=postgresql', `--postgresql-url=${ferretDbPostgresUrl(pgUrl, database)}`];
    } catch (error) {
      if (wanted === 'postgresql') throw error;
    }
  } else if (wanted === 'postgresql') {
    throw new Error(`FERRETDB_BACKEND=postgresql but nothing answers at ${pgUrl}`);
  }
  return ['--handler=sqlite', `--sqlite-url=file:${dir}/`];
}

export async function startFerretDb(): Promise<string> {
  const binary = findFerretDb();
  if (!binary) {
    throw new Error(
      'no MONGODB_URI and no FerretDB binary: run scripts/ci/build-ferretdb.sh (needs Go) or set MONGODB_URI',
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-ferretdb-'));
  tempDirs.push(dir);
  const port = await freePort();
  const backend = await ferretDbBackend(dir);
  const child = spawn(
    binary,
    [
      ...backend,
      `--listen-addr=127.0.0.1:${port}`,
      '--telemetry=disable',
      '--log-level=error',
      '--debug-addr=-',
      '--state-dir',
      dir,
    ],
    // Unique-key refusals (the claims that make single use safe) are logged as errors by FerretDB; keep its
    // log out of the test output and show it only when it fails to start.
    { stdio: ['ignore', 'ignore', openSync(path.join(dir, 'ferretdb.log'), 'a')] },
  );
  children.push(child);
  await waitForPort(port, 'FerretDB', child).catch((error: Error) => {
    throw new Error(`${error.message}\n${readFileSync(path.join(dir, 'ferretdb.log'), 'utf8').slice(-2000)}`);
  });
  ferretDbBackendName = backend[0].replace('--handler=', '');
  return `mongodb://127.0.0.1:${port}/`;
}

let ferretDbBackendName: string | undefined;
/** "postgresql" or "sqlite" once FerretDB was started here. */
export const ferretDbBackendInUse = () => ferretDbBackendName;

/**
 * The Redis on the default port when one answers; with `ownProcess` always a new one on a free port (a
 * benchmark that measures Redis's CPU must not share it with whatever else uses the default one).
 */
export async function startRedis(options: { ownProcess?: boolean } = {}): Promise<string> {
  if (!options.ownProcess && (await answers(6379))) return 'redis://127.0.0.1:6379';
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  children.push(child);
  await waitForPort(port, 'redis-server', child);
  return `redis://127.0.0.1:${port}`;
}

export function stopLocalServices(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  for (const cleanup of cleanups.splice(0)) cleanup();
}

/** MONGODB_URI and REDIS_URL when set, otherwise local servers started now. */
export async function ensureLocalServices(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ mongodbUri: string; redisUrl: string }> {
  return { mongodbUri: env.MONGODB_URI ?? (await startFerretDb()), redisUrl: env.REDIS_URL ?? (await startRedis()) };
}

/** PIDs of the servers started here (benchmarks read their CPU time). */
export function localServicePids(): { ferretdb?: number; redis?: number } {
  const find = (name: string) => children.find((c) => c.spawnargs[0]?.includes(name))?.pid;
  return { ferretdb: find('ferretdb'), redis: find('redis-server') };
}

/** Local servers for a benchmark that starts gateways through the test harness (test/support/gateway.ts). */
export async function servicesForHarness(): Promise<{ mongodbUri: string; redisUrl: string }> {
  const services = await ensureLocalServices();
  process.env.MONGODB_URI = services.mongodbUri;
  process.env.REDIS_URL = services.redisUrl;
  process.env.TEST_LOG_LEVEL ??= 'warn';
  return services;
}
