import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { eventually } from '../../../test/support/eventually.js';
import { recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { finished as exited, spawnTs, waitForLine } from '../../../test/support/process.js';
import {
  assertIdentityRefused,
  assertNothingSecretLeft,
  commandsOf,
  enrolledDevice,
  finished,
  keepPolling,
  mongo,
  retireByAdmin,
  service,
  unenrolledRecorder,
} from './support.js';

const config = {
  acknowledgementTimeoutMs: 15_000,
  pollIntervalMs: 100,
  retryBackoffMs: 500,
  lockDurationMs: 1_500,
};

describe('unenrollment: a worker process killed between steps', function () {
  this.timeout(120_000);
  let api: TestGateway;
  let replacement: TestGateway | undefined;
  let child: ChildProcess | undefined;
  const events = unenrolledRecorder();

  after(async () => {
    child?.kill('SIGKILL');
    await replacement?.stop();
    await api?.stop();
  });

  it('SIGKILL during a server-side step: another worker resumes there, repeating no finished step', async () => {
    // HTTP only here: every unenrollment step runs in the worker processes.
    api = await startTestGateway({
      label: 'unenrollcrash',
      role: 'serve',
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
      config: { plugins: { unenrollment: config } },
    });
    child = spawnTs('plugins/unenrollment/test/fixtures/unenroll-worker.ts', [], {
      MONGODB_URI: process.env.MONGODB_URI,
      REDIS_URL: process.env.REDIS_URL,
      UNENROLL_DB_URI: api.mongodbUri,
      UNENROLL_REDIS_PREFIX: api.redisPrefix,
      UNENROLL_CONFIG: JSON.stringify(config),
      TEST_LOG_LEVEL: 'warn',
    });
    const childExit = exited(child, 90_000);
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    await waitForLine(child, /^ready/m, 45_000);

    const { device, id } = await enrolledDevice(api);
    const polling = keepPolling(device);
    expect((await retireByAdmin(api, id)).status).to.equal(202);

    // The audit step fails once, is retried after the backoff, and then hangs: the worker is mid-step.
    const calls = await eventually(() => {
      const seen = [...output.matchAll(/^audit-call (\d+) (\d+)$/gm)].map((m) => Number(m[2]));
      expect(seen).to.have.length(2);
      return seen;
    }, 45_000);
    expect(calls[1] - calls[0]).to.be.at.least(config.retryBackoffMs - 50);
    await polling.stop();
    const midway = await service(api).get(id);
    const byName = Object.fromEntries((midway?.steps ?? []).map((s) => [s.name, s]));
    for (const name of ['revoke-certificates', 'clear-command-queue', 'erase-secrets', 'mark-retired']) {
      expect(byName[name], name).to.include({ state: 'done', attempts: 1 });
    }
    expect(byName['audit-record']).to.include({ state: 'running', attempts: 2 });
    expect(byName.announce).to.include({ state: 'pending', attempts: 0 });
    expect(midway?.state).to.equal('in-progress');

    child.kill('SIGKILL');
    expect((await childExit).code).to.equal(null);

    replacement = await startTestGateway({
      label: 'unenrollcrash2',
      role: 'work',
      mongodbUri: api.mongodbUri,
      redisPrefix: api.redisPrefix,
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment'],
      plugins: [events.plugin],
      config: { plugins: { unenrollment: config } },
    });
    const done = await finished(api, id, 30_000);
    expect(done.state).to.equal('completed');
    expect(done.steps.map((s) => `${s.name}:${s.state}:${s.attempts}`)).to.deep.equal(
      done.steps.map((s) => `${s.name}:done:${s.name === 'audit-record' ? 3 : 1}`),
    );
    expect(await commandsOf(api, id, 'RemoveApplication')).to.have.length(1);
    expect(await commandsOf(api, id, 'RemoveProfile')).to.have.length(2);
    // The killed worker claimed the record and died inside the call: the resumed step cannot know whether it was
    // written, writes it, and says so.
    const audit = await mongo(api)
      .collection('audit_log')
      .find({ action: 'device.unenroll', 'target.id': id })
      .toArray();
    expect(audit).to.have.length(1);
    expect(audit[0].after).to.include({ repeatOfUnconfirmedRecord: true });
    expect(audit[0].requestId).to.match(new RegExp(`^unenrollment:${id}:`));
    await eventually(() => expect(events.seen.filter((e) => e.deviceId === id)).to.have.length(1));
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(api, device, id);
  });
});
