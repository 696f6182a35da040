/**
 * `npm test`: runs mocha against real servers. MONGODB_URI and REDIS_URL are used when set;
 * otherwise FerretDB (SQLite backend, temp dir) and, if nothing answers on 6379, redis-server
 * are started for the run and stopped after it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const children: ChildProcess[] = [];
const tempDirs: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function answers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
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

function findFerretDb(): string | undefined {
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

async function startFerretDb(): Promise<string> {
  const binary = findFerretDb();
  if (!binary) {
    throw new Error(
      'no MONGODB_URI and no FerretDB binary: run scripts/ci/build-ferretdb.sh (needs Go) or set MONGODB_URI',
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-ferretdb-'));
  tempDirs.push(dir);
  const port = await freePort();
  const child = spawn(
    binary,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dir}/`,
      `--listen-addr=127.0.0.1:${port}`,
      '--telemetry=disable',
      '--log-level=error',
      '--debug-addr=-',
      '--state-dir',
      dir,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  await waitForPort(port, 'FerretDB', child);
  return `mongodb://127.0.0.1:${port}/`;
}

async function startRedis(): Promise<string> {
  if (await answers(6379)) return 'redis://127.0.0.1:6379';
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

/** A throwaway CA for the https stand-ins (OIDC, APNs); Node trusts it through NODE_EXTRA_CA_CERTS. */
function makeTestCa(): string {
  const dir = path.join(root, '.cache', 'test-ca');
  mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'ca.pem');
  if (!existsSync(cert)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        path.join(dir, 'ca.key'),
        '-out',
        cert,
        '-days',
        '3650',
        '-subj',
        '/CN=Enrollment Gateway Test CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      { stdio: 'ignore' },
    );
  }
  return dir;
}

function cleanup(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<number> {
  const env = { ...process.env };
  env.MONGODB_URI ??= await startFerretDb();
  env.REDIS_URL ??= await startRedis();
  const caDir = makeTestCa();
  env.TEST_CA_DIR = caDir;
  env.NODE_EXTRA_CA_CERTS = path.join(caDir, 'ca.pem');
  writeFileSync(
    path.join(root, '.cache', 'test-services.json'),
    JSON.stringify({ mongodb: env.MONGODB_URI, redis: env.REDIS_URL }),
  );
  const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const args = process.argv.slice(2);
  const files = args.filter((arg) => !arg.startsWith('-') && /\.ts$|\*/.test(arg));
  if (files.length > 0) env.TEST_SPEC = files.join(',');
  const flags = args.filter((arg) => !files.includes(arg));
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', mocha, ...flags], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
main().then(
  (code) => {
    cleanup();
    process.exit(code);
  },
  (error: Error) => {
    console.error(`npm test: ${error.message}`);
    cleanup();
    process.exit(1);
  },
);
