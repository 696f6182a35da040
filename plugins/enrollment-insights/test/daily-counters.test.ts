import { expect } from 'chai';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import { testServices, uniqueDatabaseUri, uniqueRedisPrefix } from '../../../test/support/services.js';
import { AttemptRecords, type PendingDoc } from '../src/storage/attempt-records.js';
import { DailyCounters, dimOf } from '../src/storage/daily-counters.js';

const GROUPS = 40;

/** One passed step per group, all with one profile: 2 + 2 × GROUPS counter slices for the day. */
function pendingSteps(round: number, at: Date): PendingDoc[] {
  return Array.from({ length: GROUPS }, (_, g) => ({
    _id: `r${round}-g${g}:signed-in`,
    at,
    step: 'signed-in',
    outcome: 'passed',
    profileId: 'profile-a',
    groups: [`group-${g}`],
  }));
}

/**
 * The rollup writes every counter a batch touches. On the test database (FerretDB 1.24) a bulkWrite of more than
 * about 50 statements that each match a document never returns; a day of a large tenant touches hundreds of
 * slices (all, each profile, each group, each profile × group), so the rollup must write them in chunks.
 */
describe('enrollment-insights: daily counters with more slices than one database command can take', function () {
  this.timeout(60_000);
  let connection: mongoose.Connection;
  let redis: Redis;
  let counters: DailyCounters;
  let records: AttemptRecords;

  before(async () => {
    connection = await mongoose.createConnection(uniqueDatabaseUri('insights-counters')).asPromise();
    redis = new Redis(testServices().redisUrl);
    records = new AttemptRecords(connection);
    counters = new DailyCounters(connection, records, redis, `${uniqueRedisPrefix('insights-counters')}lock`);
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
    redis?.disconnect();
  });

  it(`folds two rounds into ${2 + 2 * GROUPS} existing counters, each counted once per round`, async () => {
    const at = new Date('2026-12-01T10:00:00Z');
    for (const round of [1, 2]) {
      for (const step of pendingSteps(round, at)) await records.insertPending(step);
      expect(await counters.rollup()).to.equal(true);
    }
    // The database's own counts, not the roles': every pending step folded, one counter per slice.
    expect(await connection.collection('insights_pending').countDocuments()).to.equal(0);
    expect(await connection.collection('insights_daily').countDocuments()).to.equal(2 + 2 * GROUPS);
    const [all] = await counters.read(['2026-12-01'], dimOf());
    expect(all.steps['signed-in']).to.equal(2 * GROUPS);
    const [one] = await counters.read(['2026-12-01'], dimOf('profile-a', 'group-7'));
    expect(one.steps['signed-in']).to.equal(2);
  });
});
