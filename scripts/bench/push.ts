/**
 * Pushes N devices end to end: PushService.wake in this process (the API side) → BullMQ → one worker process
 * (role "work", the real apns plugin) → HTTP/2 → the loopback APNs stand-in (a worker thread here). In the same
 * run a bare node:http2 client measures the stand-in's ceiling, and the ratio is reported.
 *   npm run bench -- push [--devices 100000] [--batch 1000] [--concurrency 4]
 * Device tokens come from a synthetic PushTargetStore contributed to push.targetSources by a fixture plugin, so
 * no 100k devices are enrolled in MongoDB; everything else (certificate, queue, worker, provider) is the real path.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pushServiceRef } from '../../core/sdk/index.js';
import { installCertificate } from '../../plugins/apns/test/support/harness.js';
import { bareClientRun, startStandinThread } from '../../plugins/apns/test/support/standin-thread.js';
import { syntheticPushTargets, syntheticToken } from '../../plugins/apns/test/support/synthetic-targets.js';
import { createTestPki } from '../../test/support/apns-standin.js';
import { testAdminTokens } from '../../test/support/fixture-plugins.js';
import { startTestGateway } from '../../test/support/gateway.js';
import { finished, spawnTs, waitForLine } from '../../test/support/process.js';
import { servicesForHarness, stopLocalServices } from '../lib/local-services.js';
import { cpuSeconds } from './_proc.js';
import { option } from './_stats.js';

const POOL_SIZE = 2;
const STREAMS_PER_SESSION = 1000;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const devices = option(args, 'devices', 100_000);
  const batchSize = option(args, 'batch', 1000);
  const concurrency = option(args, 'concurrency', 4);
  const services = await servicesForHarness();

  const pki = await createTestPki();
  const certificate = await pki.issuePushCertificate();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-push-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, pki.ca.certPem);
  const standin = await startStandinThread(pki, STREAMS_PER_SESSION);

  const ids = Array.from({ length: devices }, (_, i) => `bench-${i}`);
  console.log(`measuring the stand-in's ceiling with a bare node:http2 client (${devices} pushes)…`);
  const magic = randomUUID().toUpperCase();
  const bareOptions = { poolSize: POOL_SIZE, streamsPerSession: STREAMS_PER_SESSION };
  await bareClientRun(
    standin.url,
    pki.ca.certPem,
    certificate,
    ids.slice(0, 5000).map(syntheticToken),
    magic,
    bareOptions,
  );
  const ceiling = await bareClientRun(
    standin.url,
    pki.ca.certPem,
    certificate,
    ids.map(syntheticToken),
    magic,
    bareOptions,
  );

  const workerConfig = {
    endpoint: standin.url,
    caFile,
    poolSize: POOL_SIZE,
    maxStreamsPerSession: STREAMS_PER_SESSION,
    batchSize,
    concurrency,
  };
  const api = await startTestGateway({
    label: 'benchpush',
    role: 'serve',
    enable: ['admin-access', 'apns'],
    plugins: [testAdminTokens, syntheticPushTargets(certificate.topic).plugin],
    config: { plugins: { apns: workerConfig } },
  });
  const worker = spawnTs('plugins/apns/test/fixtures/push-worker.ts', [], {
    MONGODB_URI: services.mongodbUri,
    REDIS_URL: services.redisUrl,
    APNS_DB_URI: api.mongodbUri,
    APNS_REDIS_PREFIX: api.redisPrefix,
    APNS_TOPIC: certificate.topic,
    APNS_CONFIG: JSON.stringify(workerConfig),
    TEST_LOG_LEVEL: 'warn',
  });
  const exited = finished(worker, 3_600_000);
  try {
    await installCertificate(api, certificate);
    await waitForLine(worker, /^ready/m, 60_000);
    const push = api.gateway.context('apns').resolve(pushServiceRef);
    const accepted = async () => (await standin.counters()).counters.accepted;
    const until = async (count: number) => {
      while ((await accepted()) < count) await new Promise((resolve) => setTimeout(resolve, 10));
    };

    // Warm-up: connections up and code paths compiled, as in a running gateway.
    const warm = Array.from({ length: 5000 }, () => `warm-${randomBytes(6).toString('hex')}`);
    const base = await accepted();
    await push.wake(warm);
    await until(base + warm.length);

    console.log(`pushing ${devices} devices end to end (wake → BullMQ → worker process → stand-in)…`);
    const start = await accepted();
    const cpuBefore = cpuSeconds(worker.pid as number);
    const started = performance.now();
    for (let i = 0; i < ids.length; i += 10_000) await push.wake(ids.slice(i, i + 10_000));
    const enqueuedMs = performance.now() - started;
    await until(start + devices);
    const elapsedMs = performance.now() - started;
    const workerCpu = cpuSeconds(worker.pid as number) - cpuBefore;
    const pushesPerSecond = (devices / elapsedMs) * 1000;
    const ratio = pushesPerSecond / ceiling.pushesPerSecond;
    console.log(`stand-in ceiling (bare node:http2): ${Math.round(ceiling.pushesPerSecond)} pushes/s`);
    console.log(
      `end to end, one worker process:   ${Math.round(pushesPerSecond)} pushes/s (${(elapsedMs / 1000).toFixed(2)} s, ` +
        `enqueue ${Math.round(enqueuedMs)} ms, worker CPU ${workerCpu.toFixed(2)} s); ratio ${ratio.toFixed(3)}`,
    );
    console.log('device targets: synthetic store contributed to push.targetSources (no enrolled devices in MongoDB)');
    return {
      devices,
      pushesPerSecond: Math.round(pushesPerSecond),
      ceilingPerSecond: Math.round(ceiling.pushesPerSecond),
      ratio: Math.round(ratio * 1000) / 1000,
      seconds: Math.round(elapsedMs) / 1000,
      enqueueMs: Math.round(enqueuedMs),
      workerCpuSeconds: Math.round(workerCpu * 100) / 100,
      batchSize,
      concurrency,
      targets: 'synthetic PushTargetStore (fixture plugin), not MongoDB devices',
      targetPerSecond: 10_000,
      targetRatio: 0.8,
    };
  } finally {
    worker.kill('SIGTERM');
    await exited.catch(() => undefined);
    await api.stop();
    await standin.stop();
    rmSync(dir, { recursive: true, force: true });
    stopLocalServices();
  }
}
