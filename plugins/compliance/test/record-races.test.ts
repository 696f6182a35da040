import { expect } from 'chai';
import mongoose from 'mongoose';
import { uniqueDatabaseUri } from '../../../test/support/services.js';
import { complianceModels, MongoDeviceRecords } from '../src/storage/compliance-records.js';

const PAIRS = 200;

/**
 * The refresh job asks a device while the device's answer to an earlier DeviceInformation is being stored. On the
 * test database (FerretDB rewrites a whole document per update) two updates of one device record lost one of them;
 * as a request record (asking roles) and a report record (command.result), both stand.
 */
describe('compliance: a refresh and a report of one device at once', function () {
  this.timeout(180_000);
  let connection: mongoose.Connection;
  let records: MongoDeviceRecords;

  before(async () => {
    connection = await mongoose.createConnection(uniqueDatabaseUri('compliance-races')).asPromise();
    records = new MongoDeviceRecords(complianceModels(connection));
    await records.prepare();
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it(`keeps both the request and the report (${PAIRS} pairs)`, async () => {
    const ids = Array.from({ length: PAIRS }, (_, i) => `race-${i}`);
    for (const id of ids) await records.register(id, `udid-${id}`, `enrolled-${id}`);
    const at = new Date();
    await Promise.all(
      ids.map((id) =>
        Promise.all([
          records.asked([{ deviceId: id, commandUuid: `ask-${id}` }], at),
          records.recordReport({
            _id: id,
            udid: `udid-${id}`,
            osVersion: '17.5',
            osVersionKey: 17_005_000,
            reportedAt: at,
          }),
        ]),
      ),
    );
    const requests = await Promise.all(ids.map((id) => records.request(id)));
    const reports = new Map((await records.reports(ids)).map((r) => [r._id, r]));
    const lostRequests = requests.filter((r, i) => r?.pendingCommandUuid !== `ask-${ids[i]}`).length;
    const lostReports = ids.filter((id) => reports.get(id)?.osVersion !== '17.5').length;
    expect({ lostRequests, lostReports }).to.deep.equal({ lostRequests: 0, lostReports: 0 });
  });

  it('asks again only devices whose last question was answered', async () => {
    const cutoff = new Date(Date.now() + 60_000);
    await records.recordAnswer('race-1', 'ask-race-1');
    const due = await records.due(cutoff, 1000);
    expect(due).to.include('race-1');
    expect(due).to.not.include('race-2');
  });

  it('moves the reports kept on request records before they had their own, once', async () => {
    await connection.collection('compliance_devices').insertOne({
      _id: 'legacy' as never,
      udid: 'udid-legacy',
      osVersion: '16.1',
      osVersionKey: 16_001_000,
      platform: 'iOS',
    });
    await records.prepare();
    await records.prepare();
    const [report] = await records.reports(['legacy']);
    expect(report).to.include({ osVersion: '16.1', platform: 'iOS' });
  });
});
