/**
 * Enroll simulated iPhones against a running gateway.
 *
 *   npm run simulate -- --url http://127.0.0.1:8080 --profile-url https://gateway.example/mdm/enroll/<token> [--devices N]
 *   npm run simulate -- --url http://127.0.0.1:8080 --mint-url http://127.0.0.1:8080/api/mdm/enrollments \
 *       --api-key $KEY --devices 100 --concurrency 16 [--checkout]
 *
 * --url          where the gateway listens; URLs in profiles that start with --public-url are sent here instead.
 * --public-url   the gateway's public URL as written into profiles. Default: the origin of the (first) profile URL.
 * --profile-url  one enrollment link; every device uses it (fine for one device; one-time links fail after that).
 * --mint-url     admin endpoint that mints a link per device: POST {"userId": "<prefix><n>"} with
 *                `Authorization: Bearer <api-key>`, answering {"profileUrl": "..."}.
 * --user-prefix  userId prefix for --mint-url (default "sim-user-").
 * --no-poll      skip the MDM poll session after enrolling.  --checkout  send CheckOut at the end.
 * --unique-keys  a fresh RSA key per device instead of a shared pool of 16.
 *
 * Prints a human summary, then the JSON summary as the last line. Exits 1 if any device failed.
 */
import { parseArgs } from 'node:util';
import { DeviceSimulatorError, type FleetSummary, simulateFleet } from '../test/support/device-simulator.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    'public-url': { type: 'string' },
    'profile-url': { type: 'string' },
    'mint-url': { type: 'string' },
    'api-key': { type: 'string' },
    'user-prefix': { type: 'string', default: 'sim-user-' },
    devices: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '16' },
    checkout: { type: 'boolean', default: false },
    'no-poll': { type: 'boolean', default: false },
    'unique-keys': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function usage(message?: string): never {
  if (message) console.error(`simulate: ${message}`);
  console.error(
    'usage: npm run simulate -- --url <gateway url> (--profile-url <url> | --mint-url <url> --api-key <key>) ' +
      '[--public-url <url>] [--devices N] [--concurrency N] [--checkout] [--no-poll] [--unique-keys]',
  );
  process.exit(message ? 2 : 0);
}

/** Calls the admin API for a fresh enrollment link (see header comment for the contract). */
async function mintProfileUrl(mintUrl: string, apiKey: string | undefined, userId: string): Promise<string> {
  const response = await fetch(mintUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    },
    body: JSON.stringify({ userId }),
  });
  const text = await response.text();
  if (!response.ok) throw new DeviceSimulatorError('mint', `mint ${response.status}: ${text.slice(0, 300)}`);
  let profileUrl: unknown;
  try {
    profileUrl = (JSON.parse(text) as { profileUrl?: unknown }).profileUrl;
  } catch {
    profileUrl = undefined;
  }
  if (typeof profileUrl !== 'string') throw new DeviceSimulatorError('mint', 'mint response has no profileUrl');
  return profileUrl;
}

function printSummary(summary: FleetSummary): void {
  const t = summary.timings;
  const line = (name: string, s: FleetSummary['timings']['total']) =>
    `  ${name.padEnd(8)} p50 ${s.p50} ms  p90 ${s.p90} ms  p99 ${s.p99} ms  max ${s.max} ms  (n=${s.count})`;
  console.log(
    `enrolled ${summary.enrolled}/${summary.count} devices in ${summary.wallMs} ms ` +
      `(${summary.enrollmentsPerSecond}/s), ${summary.failed} failed, ${summary.commandsAnswered} commands answered` +
      (summary.checkedOut ? `, ${summary.checkedOut} checked out` : ''),
  );
  for (const [name, s] of Object.entries(t)) if (s.count > 0) console.log(line(name, s));
  for (const error of summary.errors) {
    console.log(`  device #${error.index} failed at ${error.stage}: ${error.message}`);
  }
  for (const device of summary.devices ?? []) {
    if (!device.hasIdentity) continue;
    console.log(`  device ${device.udid} serial ${device.info.serialNumber}`);
    console.log(`    identity ${device.identity.subject} sha256 ${device.identity.fingerprint}`);
  }
}

async function main(): Promise<number> {
  if (values.help) usage();
  const baseUrl = values.url ?? usage('--url is required');
  const count = Number.parseInt(values.devices, 10);
  const concurrency = Number.parseInt(values.concurrency, 10);
  if (!(count > 0) || !(concurrency > 0)) usage('--devices and --concurrency must be positive integers');
  const mintUrl = values['mint-url'];
  const fixedUrl = values['profile-url'];
  if (!mintUrl === !fixedUrl) usage('give exactly one of --profile-url and --mint-url');

  const mint = async (index: number) =>
    fixedUrl ?? mintProfileUrl(mintUrl as string, values['api-key'], `${values['user-prefix']}${index}`);
  // The first link tells us the public origin when --public-url is not given.
  const first = await mint(0);
  const publicUrl = values['public-url'] ?? new URL(first).origin;

  const summary = await simulateFleet({
    count,
    concurrency,
    baseUrl,
    publicUrl,
    mint: (index) => (index === 0 ? Promise.resolve(first) : mint(index)),
    poll: !values['no-poll'],
    checkOut: values.checkout,
    uniqueKeys: values['unique-keys'],
    keepDevices: count <= 3,
  });
  printSummary(summary);
  const { devices: _devices, ...json } = summary;
  console.log(JSON.stringify(json));
  return summary.failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`simulate: ${error.message}`);
    process.exit(1);
  },
);
