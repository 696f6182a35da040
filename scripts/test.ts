/**
 * `npm test`: runs mocha against real servers. MONGODB_URI and REDIS_URL are used when set;
 * otherwise FerretDB (SQLite backend, temp dir) and, if nothing answers on 6379, redis-server
 * are started for the run and stopped after it.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureLocalServices, stopLocalServices } from './lib/local-services.js';
import { ensureSelfSignedCa } from './lib/self-signed-ca.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** A throwaway CA for the https stand-ins (OIDC, APNs); Node trusts it through NODE_EXTRA_CA_CERTS. */
const makeTestCa = () => ensureSelfSignedCa(path.join(root, '.cache', 'test-ca'), 'Enrollment Gateway Test CA');

const cleanup = stopLocalServices;

/**
 * On the FerretDB started here, each client (a test gateway, a race test's connection) sends at most 16 operations
 * at once, so the two test jobs together stay under half of FerretDB's pool (see ferretDbPostgresUrl).
 */
function cappedClientPool(uri: string): string {
  const url = new URL(uri);
  if (!url.searchParams.has('maxPoolSize')) url.searchParams.set('maxPoolSize', '16');
  return url.toString();
}

async function main(): Promise<number> {
  const env = { ...process.env };
  const services = await ensureLocalServices(env);
  env.MONGODB_URI = process.env.MONGODB_URI ? services.mongodbUri : cappedClientPool(services.mongodbUri);
  env.REDIS_URL = services.redisUrl;
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
