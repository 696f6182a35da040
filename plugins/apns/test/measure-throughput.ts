/**
 * Throughput check for the APNs provider against the local stand-in.
 *
 *   node --conditions=source --import tsx plugins/apns/test/measure-throughput.ts [pushes] [rounds]
 *
 * The stand-in runs in a worker thread (its own core, as Apple would be another machine). In the same run a bare
 * node:http2 client (same connections, same stream window, no bookkeeping) measures the stand-in's ceiling, then
 * ApnsClient pushes the same number of devices; rounds alternate and the best round of each is compared.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { createTestPki, type IssuedPushCertificate, type TestPki } from '../../../test/support/apns-standin.js';
import { ApnsClient } from '../src/provider/index.js';
import { bareClientRun as bareRun, startStandinThread } from './support/standin-thread.js';

const POOL_SIZE = 2;
/** Client-thread busy time per push (event-loop utilisation): less sensitive to other load than wall time. */
const busyMicrosPerPush = { bare: [] as number[], provider: [] as number[] };
const STREAMS_PER_SESSION = 1000;

if (isMainThread) await main();

async function main(): Promise<void> {
  const pushes = Number(process.argv[2] ?? 100_000);
  const rounds = Number(process.argv[3] ?? 3);
  const pki = await createTestPki();
  const push = await pki.issuePushCertificate();
  const standin = await startStandinThread(pki, STREAMS_PER_SESSION);
  const { url } = standin;

  const tokens = Array.from({ length: pushes }, () => randomBytes(32).toString('hex'));
  const magic = randomUUID().toUpperCase();

  await bareClientRun(url, pki, push, tokens.slice(0, 5000), magic);
  await providerRun(url, pki, push, tokens.slice(0, 5000), magic);

  const bare: number[] = [];
  const provider: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    bare.push(await bareClientRun(url, pki, push, tokens, magic));
    provider.push(await providerRun(url, pki, push, tokens, magic));
    console.log(`round ${round}: bare http2 ${fmt(bare.at(-1))}/s, ApnsClient ${fmt(provider.at(-1))}/s`);
  }
  const bestBare = Math.max(...bare);
  const bestProvider = Math.max(...provider);
  const finalStats = await standin.stop();
  console.log(`pushes per run: ${pushes}, pool ${POOL_SIZE} x ${STREAMS_PER_SESSION} streams`);
  console.log(`stand-in ceiling (bare node:http2 client): ${fmt(bestBare)} pushes/s`);
  console.log(`ApnsClient:                                ${fmt(bestProvider)} pushes/s`);
  console.log(`ratio: ${(bestProvider / bestBare).toFixed(3)}`);
  const least = (values: number[]) => Math.min(...values.slice(1)).toFixed(1);
  console.log(
    `client-thread busy time per push: bare ${least(busyMicrosPerPush.bare)} µs, ApnsClient ${least(busyMicrosPerPush.provider)} µs`,
  );
  console.log('stand-in:', JSON.stringify(finalStats));
}

function fmt(rate: number | undefined): string {
  return Math.round(rate ?? 0).toLocaleString('en-US');
}

async function providerRun(
  url: string,
  pki: TestPki,
  push: IssuedPushCertificate,
  tokens: string[],
  magic: string,
): Promise<number> {
  const client = new ApnsClient({
    endpoint: url,
    certPem: push.certPem,
    keyPem: push.keyPem,
    ca: pki.ca.certPem,
    poolSize: POOL_SIZE,
    maxStreamsPerSession: STREAMS_PER_SESSION,
  });
  // Connections up before timing, as in a running gateway.
  await Promise.all(
    Array.from({ length: STREAMS_PER_SESSION * POOL_SIZE }, (_, i) =>
      client.send({ token: tokens[i % tokens.length], pushMagic: magic, topic: push.topic }),
    ),
  );
  const started = performance.now();
  const elu = performance.eventLoopUtilization();
  const outcomes = await Promise.all(
    tokens.map((token) => client.send({ token, pushMagic: magic, topic: push.topic })),
  );
  const elapsed = performance.now() - started;
  busyMicrosPerPush.provider.push((performance.eventLoopUtilization(elu).active * 1000) / tokens.length);
  await client.close();
  const failed = outcomes.filter((o) => o.kind !== 'sent').length;
  if (failed > 0) throw new Error(`ApnsClient: ${failed} pushes not sent`);
  return (tokens.length / elapsed) * 1000;
}

async function bareClientRun(
  url: string,
  pki: TestPki,
  push: IssuedPushCertificate,
  tokens: string[],
  magic: string,
): Promise<number> {
  const run = await bareRun(url, pki.ca.certPem, push, tokens, magic, {
    poolSize: POOL_SIZE,
    streamsPerSession: STREAMS_PER_SESSION,
  });
  busyMicrosPerPush.bare.push(run.busyMicrosPerPush);
  return run.pushesPerSecond;
}
