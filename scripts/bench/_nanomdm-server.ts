/**
 * NanoMDM v0.9.0 (built by scripts/ci/build-nanomdm.sh) as `npm run bench -- nanomdm` runs it: its own fresh
 * PostgreSQL database made from NanoMDM's schema, a CA file it verifies device identities against (-ca), its API
 * (-api) for enqueueing, and a separate check-in endpoint (-checkin) so check-ins and command reports take the
 * same two URLs as with the gateway.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../lib/local-services.js';
import { cpuSeconds } from './_proc.js';

export const NANOMDM_VERSION = 'v0.9.0';

export interface NanoMdmServer {
  url: string;
  pid: number;
  /** Basic-auth header for its API (user `nanomdm`). */
  apiAuthorization: string;
  /** Its database (postgres://…/name), for the PostgreSQL backends' CPU and for checking results. */
  databaseUrl: string;
  cpuSeconds(): number;
  /** Stops it and drops its database; the tail of its log when `failed`. */
  stop(failed?: boolean): Promise<string>;
}

/** The cached binary, or the build script's advice. */
export function nanoMdmBinary(): string {
  const cache =
    process.env.GATEWAY_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'enrollment-gateway');
  const binary = process.env.NANOMDM_BIN ?? path.join(cache, 'bin', `nanomdm-${NANOMDM_VERSION}`);
  if (!existsSync(binary) || !existsSync(`${binary}.pgsql-schema.sql`))
    throw new Error(`no NanoMDM at ${binary}: run scripts/ci/build-nanomdm.sh (needs Go) or set NANOMDM_BIN`);
  return binary;
}

function createDatabase(serverUrl: string, schemaFile: string): string {
  const name = `bench_nanomdm_${randomBytes(3).toString('hex')}`;
  execFileSync('psql', [`${serverUrl}/postgres`, '-qc', `CREATE DATABASE ${name}`], { stdio: 'ignore' });
  execFileSync('psql', [`${serverUrl}/${name}`, '-q', '-v', 'ON_ERROR_STOP=1', '-f', schemaFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return name;
}

function dropDatabase(serverUrl: string, name: string): void {
  try {
    execFileSync('psql', [`${serverUrl}/postgres`, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], {
      stdio: 'ignore',
    });
  } catch {
    // best effort: a leftover bench database is harmless
  }
}

async function waitUntilServing(url: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const answered = await fetch(`${url}/version`).then(
      (res) => res.ok,
      () => false,
    );
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`NanoMDM did not start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/**
 * Starts NanoMDM against a new database on the PostgreSQL server at `postgresUrl` (no database in the URL),
 * trusting device identities issued by `caCertPem`.
 */
export async function startNanoMdm(postgresUrl: string, caCertPem: string): Promise<NanoMdmServer> {
  const binary = nanoMdmBinary();
  const databaseName = createDatabase(postgresUrl, `${binary}.pgsql-schema.sql`);
  const databaseUrl = `${postgresUrl}/${databaseName}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-nanomdm-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, caCertPem);
  const apiKey = randomBytes(16).toString('hex');
  // It logs two info lines per request with no switch to turn them off (the gateway runs errors-only): a file
  // keeps them off the pipe this process would otherwise spend CPU reading.
  const logFile = path.join(dir, 'nanomdm.log');
  const port = await freePort();
  const child = spawn(
    binary,
    [
      '-listen',
      `127.0.0.1:${port}`,
      '-ca',
      caFile,
      '-api',
      apiKey,
      '-checkin',
      '-storage',
      'pgsql',
      '-storage-dsn',
      `${databaseUrl}?sslmode=disable`,
    ],
    { stdio: ['ignore', 'ignore', openSync(logFile, 'a')] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (failed = false) => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    const log = failed ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
    dropDatabase(postgresUrl, databaseName);
    rmSync(dir, { recursive: true, force: true });
    return log;
  };
  try {
    await waitUntilServing(url, child, logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    pid: child.pid ?? Number.NaN,
    apiAuthorization: `Basic ${Buffer.from(`nanomdm:${apiKey}`).toString('base64')}`,
    databaseUrl,
    cpuSeconds: () => cpuSeconds(child.pid ?? 0),
    stop,
  };
}
