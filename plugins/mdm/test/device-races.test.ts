import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import {
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceRetirementRef,
  pushTargetSourcesPoint,
} from 'enrollment-gateway/sdk';
import { RsaKeyPool, SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { presenceFlushed } from '../../../test/support/presence.js';
import { formatFigures, type RaceWriter, runRaces } from '../../../test/support/race.js';
import { presenceResolutionMs } from '../src/storage/presence-store.js';
import { agePresence } from './support/race-hooks.js';

const PUBLIC_URL = 'https://gateway.test';
/**
 * 10 trials per pair in `npm test` keeps CI inside its time on 2 cores (the old code lost writes within the first
 * few trials of every losing pair); RACE_TRIALS=200 is the full run whose figures docs/mdm.md records.
 */
const TRIALS = Number(process.env.RACE_TRIALS ?? 10);

interface Subject {
  device: SimulatedDevice;
  id: string;
  enrollmentId: string;
  commandUuid?: string;
  deviceName?: string;
  raceStart?: Date;
}

describe('mdm device records: concurrent writers lose nothing (race harness)', function () {
  // About a second per trial and pair on a loaded 2-core machine: fresh devices enroll through the real path.
  this.timeout(Math.max(600_000, TRIALS * 15 * 2_000));
  let gw: TestGateway;
  const keyPool = new RsaKeyPool({ size: 4, reuse: true });
  const ctx = () => gw.gateway.context('mdm');
  const status = (error: unknown) => (error as { status?: number }).status;

  before(async () => {
    gw = await startTestGateway({
      label: 'mdmraces',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
    await keyPool.warm();
  });
  after(() => gw?.stop());

  /** A device that authenticated (and, unless TokenUpdate races, finished enrolling). */
  const subject = async (pair: string): Promise<Subject> => {
    const res = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: `racer-${randomUUID().slice(0, 8)}` }),
    });
    const { profileUrl } = (await res.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL, keyPool });
    await device.downloadProfile(profileUrl);
    await device.obtainIdentity();
    await device.authenticate();
    if (!pair.split('+').includes('tokenUpdate')) await device.tokenUpdate();
    const record = await ctx().resolve(deviceDirectoryRef).getByUdid(device.udid);
    return { device, id: record!.id, enrollmentId: record!.enrollmentId! };
  };

  const idle = (s: Subject) => s.device.sendReport({ UDID: s.device.udid, Status: 'Idle' });
  const record = async (s: Subject) => (await ctx().resolve(deviceDirectoryRef).get(s.id))!;
  const leaves = new Set(['revocation', 'retirement']);

  const writers: RaceWriter<Subject>[] = [
    {
      name: 'poll',
      async arm(s) {
        await agePresence(ctx(), s.id);
        s.raceStart = new Date();
      },
      async write(s) {
        const reply = await idle(s);
        return reply.status === 200 ? 'applied' : 'refused';
      },
      async holds(s) {
        // The poll marked the device; the work role's flush writes the record.
        await presenceFlushed(ctx().redis, ctx().redisKeyPrefix);
        const seen = (await record(s)).lastSeenAt;
        // lastSeenAt is kept to the flush period (a second in tests); the aged record said an hour ago.
        return Boolean(seen && new Date(seen) >= new Date(s.raceStart!.getTime() - presenceResolutionMs(1) - 1000));
      },
    },
    {
      name: 'commandResult',
      async prepare(s) {
        s.commandUuid = randomUUID().toUpperCase();
        s.deviceName = `race-${randomUUID().slice(0, 8)}`;
        await ctx()
          .resolve(deviceCommandsRef)
          .enqueue([s.id], { requestType: 'DeviceInformation', origin: 'race', commandUuid: s.commandUuid });
        expect((await idle(s)).status).to.equal(200);
      },
      async write(s) {
        const reply = await s.device.sendReport({
          UDID: s.device.udid,
          Status: 'Acknowledged',
          CommandUUID: s.commandUuid,
          QueryResponses: { DeviceName: s.deviceName, OSVersion: '18.2' },
        });
        return reply.status === 200 ? 'applied' : 'refused';
      },
      async holds(s) {
        return (await record(s)).deviceName === s.deviceName;
      },
    },
    {
      name: 'tokenUpdate',
      async write(s) {
        try {
          await s.device.tokenUpdate();
          return 'applied';
        } catch (error) {
          if (status(error) === 403) return 'refused';
          throw error;
        }
      },
      async holds(s, other) {
        const [target] = await ctx().extensions(pushTargetSourcesPoint)[0].value.get([s.id]);
        if (target?.token !== s.device.pushToken.toString('hex')) return false;
        // A device being retired does not finish enrolling; otherwise the first TokenUpdate completes it.
        const state = (await record(s)).state;
        return other === 'retirement' ? state === 'enrolled' || state === 'retiring' : state === 'enrolled';
      },
    },
    {
      name: 'renewal',
      async write(s) {
        try {
          await s.device.renewIdentity();
          return 'applied';
        } catch (error) {
          if ((error as { reason?: string }).reason === 'scep-failure') return 'refused';
          throw error;
        }
      },
      async holds(s, other) {
        // After a revocation no identity of the enrollment may sign: the revocation's own check covers that.
        if (other === 'revocation') return true;
        return (await idle(s)).status === 200;
      },
    },
    {
      name: 'revocation',
      async write(s) {
        await ctx()
          .resolve(deviceRetirementRef)
          .revokeIdentity({ deviceId: s.id, enrollmentId: s.enrollmentId }, 'race');
        return 'applied';
      },
      async holds(s) {
        return (await idle(s)).status === 403;
      },
    },
    {
      name: 'retirement',
      async write(s) {
        await ctx().resolve(deviceRetirementRef).begin({ deviceId: s.id, enrollmentId: s.enrollmentId });
        return 'applied';
      },
      async holds(s) {
        return ['retiring', 'retired'].includes((await record(s)).state);
      },
    },
  ];

  it(`every pair of writers, ${TRIALS} trials each: no write is lost`, async () => {
    const figures = await runRaces({
      writers,
      trials: TRIALS,
      concurrency: 6,
      pairs: process.env.RACE_PAIRS?.split(','),
      subject: (_trial, pair) => subject(pair),
      onPair: (f) => process.stdout.write(`      ${formatFigures([f])}\n`),
    });
    const lost = figures.filter((f) => Object.values(f.lost).some((n) => n > 0));
    expect(formatFigures(lost), 'lost writes').to.equal('');
    // Leaving writers must really have raced the others: a pair where one side was always refused proves little.
    for (const f of figures) {
      const [a, b] = f.pair.split('+');
      if (leaves.has(a) || leaves.has(b)) continue;
      expect(f.refused[a] + f.refused[b], f.pair).to.equal(0);
    }
  });
});
