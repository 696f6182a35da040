import { expect } from 'chai';
import mongoose from 'mongoose';
import { uniqueDatabaseUri } from '../../../test/support/services.js';
import { MongoJitDevices } from '../src/storage/jit-devices.js';

const PAIRS = 200;

/**
 * The readiness job and command.result follow one device at once. On the test database (FerretDB rewrites a
 * whole document per update) two updates of one device record lost one of them; as inserted observations of
 * the device's run, both stand.
 */
describe('jit-registration: readiness job and command result on one device at once', function () {
  this.timeout(180_000);
  let connection: mongoose.Connection;
  let devices: MongoJitDevices;

  before(async () => {
    connection = await mongoose.createConnection(uniqueDatabaseUri('jit-races')).asPromise();
    devices = new MongoJitDevices(connection);
    await devices.ensureIndexes();
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it(`keeps both the install answer and the confirmed app (${PAIRS} pairs)`, async () => {
    const start = { appBundleId: 'com.microsoft.azureauthenticator', appStoreId: 983156458, profileIdentifier: 'sso' };
    const runs = Array.from({ length: PAIRS }, (_, i) => `run-${i}`);
    await Promise.all(runs.map((runId, i) => devices.begin(`race-device-${i}`, runId, start)));
    const now = new Date();
    await Promise.all(
      runs.map((runId, i) =>
        Promise.all([
          // command.result: the device acknowledged InstallApplication.
          devices.observe(
            `race-device-${i}`,
            runId,
            {
              kind: 'step',
              step: 'install-sso-profile',
              record: { state: 'done', commandUuid: `sso-${i}`, updatedAt: now },
            },
            `install-sso-profile:sso-${i}`,
          ),
          // The readiness job: the directory shows Authenticator managed; and it asked for the app list.
          devices.observe(`race-device-${i}`, runId, {
            kind: 'step',
            step: 'confirm-app',
            record: { state: 'done', detail: 'Authenticator Managed', updatedAt: now },
          }),
          devices.observe(`race-device-${i}`, runId, { kind: 'list-asked', commandUuid: `list-${i}` }, `list-${i}`),
        ]),
      ),
    );
    const read = await Promise.all(runs.map((_, i) => devices.get(`race-device-${i}`)));
    const lostAnswers = read.filter((d) => d?.steps['install-sso-profile']?.state !== 'done').length;
    const lostConfirmations = read.filter((d) => d?.steps['confirm-app']?.state !== 'done').length;
    const lostQuestions = read.filter((d, i) => d?.pendingListUuid !== `list-${i}`).length;
    expect({ lostAnswers, lostConfirmations, lostQuestions }).to.deep.equal({
      lostAnswers: 0,
      lostConfirmations: 0,
      lostQuestions: 0,
    });
    expect(read.every((d) => d?.state === 'ready')).to.equal(true);
  });

  it('starts over on re-enrollment and reads devices stored before runs', async () => {
    const start = { appBundleId: 'app', appStoreId: 1, profileIdentifier: 'sso' };
    const first = 'first-run';
    await devices.begin('again', first, start);
    await devices.observe('again', first, { kind: 'not-managed' }, 'not-managed');
    expect((await devices.get('again'))?.state).to.equal('needs-attention');
    await devices.begin('again', first, start);
    expect((await devices.get('again'))?.state, 'a repeat of the same run').to.equal('needs-attention');
    await devices.begin('again', 'second-run', start);
    expect((await devices.get('again'))?.state, 'a new run').to.equal('pending');

    await connection.collection('jit_devices').insertOne({
      _id: 'legacy' as never,
      ...start,
      state: 'installing',
      steps: { 'install-app': { state: 'acknowledged', commandUuid: 'c1', updatedAt: new Date() } },
      pendingListUuid: 'list-1',
      updatedAt: new Date(),
    });
    const legacy = await devices.get('legacy');
    expect(legacy?.state).to.equal('installing');
    expect(legacy?.pendingListUuid).to.equal('list-1');
    await devices.observe('legacy', legacy!.runId, { kind: 'list-answered', commandUuid: 'list-1' });
    expect((await devices.get('legacy'))?.pendingListUuid).to.equal(undefined);
  });
});
