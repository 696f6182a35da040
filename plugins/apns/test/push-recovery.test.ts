import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { pushServiceRef } from 'enrollment-gateway/sdk';
import { type ApnsStandin, standinReplies } from '../../../test/support/apns-standin.js';
import { testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { finished, spawnTs, waitForLine } from '../../../test/support/process.js';
import { type ApnsTestBed, createApnsTestBed, installCertificate, startStandin, waitFor } from './support/harness.js';
import { syntheticPushTargets, syntheticToken } from './support/synthetic-targets.js';

const DEVICES = 60;

describe('apns recovery: a worker process killed mid-batch loses no push', function () {
  this.timeout(90_000);
  let bed: ApnsTestBed;
  let standin: ApnsStandin;
  let api: TestGateway;
  let replacement: TestGateway | undefined;
  let child: ChildProcess | undefined;

  before(async () => {
    bed = await createApnsTestBed();
    standin = await startStandin(bed);
  });
  after(async () => {
    child?.kill('SIGKILL');
    await replacement?.stop();
    await api?.stop();
    await standin?.close();
    bed?.cleanup();
  });

  it('SIGKILL while jobs are active: another worker retakes the stalled jobs and pushes every device', async () => {
    const certificate = await bed.pki.issuePushCertificate();
    const workerConfig = {
      endpoint: standin.url,
      caFile: bed.caFile,
      batchSize: 10,
      concurrency: 2,
      coalesceMs: 50,
      requestTimeoutMs: 60_000,
      lockDurationMs: 1_500,
      stalledIntervalMs: 500,
    };
    api = await startTestGateway({
      label: 'apnsrecover',
      role: 'serve',
      enable: ['admin-access', 'apns'],
      plugins: [testAdminTokens, syntheticPushTargets(certificate.topic).plugin],
      config: { plugins: { apns: workerConfig } },
    });
    await installCertificate(api, certificate);

    // The first worker's pushes never get an answer, so its jobs are mid-batch when it dies.
    standin.setDefaultBehaviour(standinReplies.hang());
    child = spawnTs('plugins/apns/test/fixtures/push-worker.ts', [], {
      MONGODB_URI: process.env.MONGODB_URI,
      REDIS_URL: process.env.REDIS_URL,
      APNS_DB_URI: api.mongodbUri,
      APNS_REDIS_PREFIX: api.redisPrefix,
      APNS_TOPIC: certificate.topic,
      APNS_CONFIG: JSON.stringify(workerConfig),
      TEST_LOG_LEVEL: 'warn',
    });
    const exited = finished(child, 60_000);
    await waitForLine(child, /^ready/m, 30_000);

    const devices = Array.from({ length: DEVICES }, (_, i) => `device-${i}`);
    await api.gateway.context('apns').resolve(pushServiceRef).wake(devices);
    await waitFor(() => standin.requests.length >= 20, 'two batches in flight in the first worker');
    const queue = api.gateway.context('apns').queue('apns-push').queue;
    expect((await queue.getJobCounts('active')).active).to.equal(2);
    child.kill('SIGKILL');
    expect((await exited).code).to.equal(null);
    expect(standin.requests.some((r) => r.outcome === 200)).to.equal(false);

    standin.setDefaultBehaviour(standinReplies.ok());
    replacement = await startTestGateway({
      label: 'apnsrecover2',
      role: 'work',
      mongodbUri: api.mongodbUri,
      redisPrefix: api.redisPrefix,
      enable: ['apns'],
      plugins: [syntheticPushTargets(certificate.topic).plugin],
      config: { plugins: { apns: workerConfig } },
    });
    const pushed = () => new Set(standin.requests.filter((r) => r.outcome === 200).map((r) => r.token));
    await waitFor(() => pushed().size === DEVICES, 'every device pushed after recovery', 30_000);
    for (const id of devices) expect(pushed().has(syntheticToken(id)), id).to.equal(true);
    expect(replacement.logs.some((l) => String(l.msg).includes('resuming a push batch'))).to.equal(true);
  });
});
