/**
 * The portal's landing page under N concurrent signed-in users (default 50): time to first byte (the server's
 * work for one page: session, user directory, profile resolution, device limit) and the page's weight with
 * everything it loads (stylesheet, script, images).
 * The gateway (identity-entra, mdm, enrollment-profiles, jit-registration, company-portal, web-clip) and the OIDC
 * stand-in run in their own process; the users sign in through the stand-in before anything is measured.
 * Users behave like people: after each page they read for --think-ms (default 1000, randomly 0.5–1.5×). A second
 * pass without any pause (--saturate-requests per user) shows where one gateway process saturates.
 *   npm run bench -- portal [--users 50] [--requests 30] [--think-ms 1000] [--saturate-requests 10]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import path from 'node:path';
import { finished, repoRoot, spawnTs, waitForLine } from '../../test/support/process.js';
import { ensureLocalServices, stopLocalServices } from '../lib/local-services.js';
import { cpuSeconds, rssMbOf } from './_proc.js';
import { option, percentiles } from './_stats.js';

const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const TTFB_TARGET_MS = 50;
const WEIGHT_TARGET_BYTES = 100 * 1024;

/** The throwaway CA `npm test` uses for https stand-ins (the same files, made the same way). */
function testCa(): string {
  const dir = path.join(repoRoot, '.cache', 'test-ca');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(path.join(dir, 'ca.pem'))) {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'ca.key'), '-out']
        .concat([path.join(dir, 'ca.pem'), '-days', '3650', '-subj', '/CN=Enrollment Gateway Test CA'])
        .concat(['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']),
      { stdio: 'ignore' },
    );
  }
  return dir;
}

interface Answer {
  status: number;
  ttfbMs: number;
  body: Buffer;
}

function get(agent: Agent, base: string, path: string, cookie: string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      { agent, headers: { cookie, 'user-agent': IPHONE, 'x-forwarded-proto': 'https', accept: 'text/html' } },
      (res) => {
        const ttfbMs = performance.now() - started;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ttfbMs, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const users = option(args, 'users', 50);
  const requests = option(args, 'requests', 30);
  const thinkMs = option(args, 'think-ms', 1000);
  const saturateRequests = option(args, 'saturate-requests', 10);
  const services = await ensureLocalServices();
  const caDir = testCa();
  const server = spawnTs('test/support/portal-serve.ts', [], {
    MONGODB_URI: services.mongodbUri,
    REDIS_URL: services.redisUrl,
    TEST_CA_DIR: caDir,
    NODE_EXTRA_CA_CERTS: path.join(caDir, 'ca.pem'),
    TEST_LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    USERS: String(users),
  });
  const exited = finished(server, 3_600_000);
  try {
    console.log(`starting the gateway and signing in ${users} users through the OIDC stand-in…`);
    const [, base, cookieJson] = await waitForLine(server, /^portal ready (\S+) (.+)$/m, 180_000);
    const cookies = JSON.parse(cookieJson) as string[];
    const agent = new Agent({ keepAlive: true, maxSockets: users * 2 });

    const first = await get(agent, base, '/', cookies[0]);
    const html = first.body.toString('utf8');
    if (first.status !== 200 || !html.includes('data-page="enroll"')) {
      throw new Error(`the landing page did not show Enroll: ${first.status} ${html.slice(0, 300)}`);
    }
    const assets = [...html.matchAll(/<(?:link[^>]+href|script[^>]+src|img[^>]+src)="(\/[^"]+)"/g)].map((m) => m[1]);
    const unique = [...new Set(assets)];
    const sizes = await Promise.all(unique.map(async (p) => (await get(agent, base, p, cookies[0])).body.length));
    const pageWeight = first.body.length + sizes.reduce((a, b) => a + b, 0);

    const load = async (rounds: number, think: number, samples?: number[]) => {
      await Promise.all(
        cookies.map(async (cookie) => {
          // Users arrive spread over one think time, not all in the same millisecond.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * think));
          for (let i = 0; i < rounds; i++) {
            const answer = await get(agent, base, '/', cookie);
            if (answer.status !== 200) throw new Error(`landing page answered ${answer.status}`);
            samples?.push(answer.ttfbMs);
            if (think > 0) await new Promise((resolve) => setTimeout(resolve, think * (0.5 + Math.random())));
          }
        }),
      );
    };
    await load(3, 0);
    const measure = async (rounds: number, think: number) => {
      const samples: number[] = [];
      const cpuBefore = cpuSeconds(server.pid as number);
      const started = performance.now();
      await load(rounds, think, samples);
      const seconds = (performance.now() - started) / 1000;
      return {
        samples,
        ttfb: percentiles(samples),
        pagesPerSecond: Math.round(samples.length / seconds),
        cpuPerPage: (cpuSeconds(server.pid as number) - cpuBefore) / samples.length,
      };
    };
    const users_ = await measure(requests, thinkMs);
    const saturated = await measure(saturateRequests, 0);
    console.log(
      `landing page, ${users} signed-in users reading ${thinkMs} ms between pages, ${users_.samples.length} requests: TTFB p50 ${users_.ttfb.p50} ms, p99 ${users_.ttfb.p99} ms (target < ${TTFB_TARGET_MS} ms)`,
    );
    console.log(
      `the same ${users} users without pauses (saturation): ${saturated.pagesPerSecond} pages/s, TTFB p50 ${saturated.ttfb.p50} ms, p99 ${saturated.ttfb.p99} ms; ${(saturated.cpuPerPage * 1000).toFixed(2)} ms of gateway CPU per page`,
    );
    console.log(
      `page weight: ${first.body.length} bytes of HTML + ${unique.length} resources = ${pageWeight} bytes (target < ${WEIGHT_TARGET_BYTES})`,
    );
    agent.destroy();
    return {
      users,
      thinkMs,
      requests: users_.samples.length,
      ttfbMs: users_.ttfb,
      p99UnderTarget: users_.ttfb.p99 < TTFB_TARGET_MS,
      saturated: {
        requests: saturated.samples.length,
        pagesPerSecond: saturated.pagesPerSecond,
        ttfbMs: saturated.ttfb,
        gatewayCpuMsPerPage: +(saturated.cpuPerPage * 1000).toFixed(3),
      },
      gatewayRssMb: rssMbOf(server.pid as number),
      htmlBytes: first.body.length,
      resources: unique.length,
      pageWeightBytes: pageWeight,
      pageWeightUnderTarget: pageWeight < WEIGHT_TARGET_BYTES,
    };
  } finally {
    server.kill('SIGTERM');
    await exited.catch(() => undefined);
    stopLocalServices();
  }
}
