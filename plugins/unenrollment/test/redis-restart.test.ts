import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { eventually } from '../../../test/support/eventually.js';
import { recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import {
  AUTHENTICATOR,
  assertIdentityRefused,
  assertNothingSecretLeft,
  commandsOf,
  enrolledDevice,
  finished,
  keepPolling,
  retireByAdmin,
  service,
} from './support.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A Redis of this test's own, without persistence: a restart loses every key, as an ephemeral Redis would. */
async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
    redis.stdout?.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    redis.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return redis;
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

describe('unenrollment: Redis restarted without persistence mid-job', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(tmpdir(), 'unenroll-redis-'));
  let redis: ChildProcess | undefined;
  let gw: TestGateway | undefined;

  after(async () => {
    await gw?.stop();
    await kill(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the sweep finds the unfinished unenrollment in MongoDB, queues it again, and it completes', async () => {
    const port = await freePort();
    redis = await startRedis(port, dir);
    gw = await startTestGateway({
      label: 'unenrollredis',
      redisUrl: `redis://127.0.0.1:${port}`,
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
      config: {
        plugins: { unenrollment: { acknowledgementTimeoutMs: 30_000, pollIntervalMs: 200, sweepIntervalMs: 500 } },
      },
    });
    const { device, id } = await enrolledDevice(gw);
    device.silent = true;
    expect((await retireByAdmin(gw, id)).status).to.equal(202);
    await eventually(async () => {
      const current = await service(gw as TestGateway).get(id);
      expect(current?.steps.find((s) => s.name === `remove-app:${AUTHENTICATOR}`)?.state).to.equal('running');
    });
    const queue = gw.gateway.context('unenrollment').queue('unenroll').queue;
    // One job per unenrollment, its id the unenrollment id ("<device>:<enrollment>") with ':' made '_'.
    const jobId = `${id}_${(await service(gw).get(id))?.enrollmentId}`;
    // Waiting for the silent phone: the job sleeps in Redis between polls.
    expect(await (await queue.getJob(jobId))?.getState()).to.be.oneOf(['delayed', 'waiting', 'active']);

    await kill(redis);
    redis = await startRedis(port, dir);
    // Nothing survived: the job, and the sweep's own schedule, are gone.
    const restarted = gw.logs.length;
    await eventually(
      () => {
        const requeued = gw?.logs.slice(restarted).find((l) => l.msg === 're-queued unenrollments whose job was gone');
        expect(requeued).to.include({ requeued: 1 });
        // The sweep's schedule was lost with everything else, and put back by the worker.
        expect(gw?.logs.slice(restarted).some((l) => l.msg === 'unenrollment sweep scheduled')).to.equal(true);
      },
      30_000,
      100,
    );

    device.silent = false;
    const polling = keepPolling(device);
    const done = await finished(gw, id, 30_000);
    await polling.stop();
    expect(done.state).to.equal('completed');
    expect(done.steps.map((s) => `${s.name}:${s.state}:${s.attempts}`)).to.deep.equal(
      done.steps.map((s) => `${s.name}:done:1`),
    );
    expect(await commandsOf(gw, id, 'RemoveApplication')).to.have.length(1);
    expect(await commandsOf(gw, id, 'RemoveProfile')).to.have.length(2);
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
  });
});
