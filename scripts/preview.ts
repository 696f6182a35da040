/**
 * `npm run preview`: the whole product on this machine in one command, for a first look.
 *
 * Starts (or finds) MongoDB-wire and Redis like the tests do, a local OpenID Connect sign-in provider with demo users
 * and groups (through the identity-oidc plugin), the gateway behind an https front on https://localhost:<port>, a
 * demo enrollment profile, a first administrator invite (passkeys), and a few simulated iPhones and iPads that enroll
 * through the real profile → SCEP → MDM path and keep checking in. Prints the URLs and the demo credentials; Ctrl-C
 * stops everything. Push is simulated (wakes are recorded; the simulated devices poll on their own).
 *
 *   npm run preview [-- --port 8443 --devices 3]
 *
 * Last line of the start-up output is JSON ({ adminUrl, portalUrl, inviteLink, users, caFile, spki }) for scripts.
 * Not shipped: it uses the test stand-ins (test/support), which is why `gateway preview` points here.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { ensurePreviewCa } = await import('./preview/tls.js');

if (!process.env.PREVIEW_CA_DIR) {
  // Node trusts the preview CA (the sign-in provider's certificate) only through NODE_EXTRA_CA_CERTS at start-up.
  const caDir = ensurePreviewCa(root);
  const child = spawn(
    process.execPath,
    [...process.execArgv, new URL(import.meta.url).pathname, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: {
        ...process.env,
        PREVIEW_CA_DIR: caDir,
        TEST_CA_DIR: caDir,
        NODE_EXTRA_CA_CERTS: path.join(caDir, 'ca.pem'),
      },
    },
  );
  // The child stops cleanly on SIGINT or SIGTERM (a terminal's Ctrl-C reaches both; a second signal is ignored)
  // and this one leaves with its code.
  process.on('SIGINT', () => child.kill('SIGINT'));
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '8443' }, devices: { type: 'string', default: '3' } },
  });
  const { runPreview } = await import('./preview/run.js');
  const { stopLocalServices } = await import('./lib/local-services.js');
  const caDir = process.env.PREVIEW_CA_DIR;
  const preview = await runPreview({
    port: Number(values.port),
    devices: Number(values.devices),
    caFile: path.join(caDir, 'ca.pem'),
    sessionSecret: randomBytes(32).toString('base64url'),
  }).catch((error: Error) => {
    console.error(`preview: ${error.stack ?? error.message}`);
    stopLocalServices();
    process.exit(1);
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the preview…');
    await preview.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
