/**
 * A gateway in a child process for the crash tests: the real plugins (mdm, jit-registration) against the
 * parent's database and Redis prefix, on a fixed port, so a restarted child is the same gateway to a device.
 * With MDM_CRASH_AT set it dies by SIGKILL at that point (src/services/crash-points.ts).
 */
import { deviceRetirementRef } from 'enrollment-gateway/sdk';
import { recordingPush, TEST_TOPIC, testAdminTokens } from '../../../../test/support/fixture-plugins.js';
import { startTestGateway } from '../../../../test/support/gateway.js';

const gw = await startTestGateway({
  label: 'crashchild',
  mongodbUri: process.env.CRASH_MONGODB_URI,
  redisPrefix: process.env.CRASH_REDIS_PREFIX,
  enable: ['mdm', 'admin-access', 'jit-registration'],
  plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
  config: {
    http: { port: Number(process.env.CRASH_PORT) },
    // A delivery lost with a killed process is found by the outbox sweep within seconds, not the default minute.
    events: { sweepIntervalMs: 1_000, redeliverAfterMs: 1_000, lockDurationMs: 2_000 },
    plugins: { 'jit-registration': { readinessAttempts: 2, readinessBackoffMs: 100 } },
  },
});
process.stdout.write(`READY ${gw.url}\n`);
// A server-side operation to run (and be killed in), as a worker would: "retire:<deviceId>:<enrollmentId>"
// or "revoke:<deviceId>:<enrollmentId>".
const [action, deviceId, enrollmentId] = (process.env.CRASH_ACTION ?? '').split(':');
const retirement = gw.gateway.context('mdm').resolve(deviceRetirementRef);
if (action === 'retire') await retirement.complete({ deviceId, enrollmentId });
if (action === 'revoke') await retirement.revokeIdentity({ deviceId, enrollmentId }, 'crash test');
process.on('SIGTERM', () => {
  void gw.stop().then(() => process.exit(0));
});
