import { expect } from 'chai';
import mongoose from 'mongoose';
import { formatFigures, type RaceWriter, runRaces } from '../../../test/support/race.js';
import { uniqueDatabaseUri } from '../../../test/support/services.js';
import { type DeadLetterDoc, MongoDeadLetters } from '../src/storage/dead-letters.js';
import { jobIdFor } from '../src/webhook-service.js';

const PAIRS = 200;

const deadLetter = (deliveryId: string, replays: number, lastError: string): DeadLetterDoc => ({
  _id: jobIdFor(deliveryId, replays),
  deliveryId,
  eventId: deliveryId.split('.')[0],
  endpoint: 'down',
  url: 'https://receiver.test/down',
  type: 'device.enrolled',
  occurredAt: new Date().toISOString(),
  data: { deviceId: 'd' },
  attempts: 3,
  replays,
  lastError,
  deadAt: new Date(),
});

/**
 * An admin replays a dead letter and the replay dies at once (the receiver is still down): the worker buries the
 * new try while the replay request removes the old one. On the test database (FerretDB rewrites a whole document
 * per write) a delete and a replace of one document could lose the new entry; as separate documents, both stand.
 */
describe('webhooks: dead letters written by the worker, the sweep and replays at once', function () {
  this.timeout(120_000);
  let connection: mongoose.Connection;
  let letters: MongoDeadLetters;

  before(async () => {
    connection = await mongoose.createConnection(uniqueDatabaseUri('webhook-races')).asPromise();
    letters = new MongoDeadLetters(connection);
    await letters.ensureIndexes();
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it(`keeps every replay that died again while its replay removed the old entry (${PAIRS} pairs)`, async () => {
    const deliveryOf = (trial: number) => `00000000-0000-4000-8000-${String(trial).padStart(12, '0')}.down`;
    const writers: RaceWriter<string>[] = [
      {
        name: 'replay',
        prepare: async (id) => {
          await letters.bury(deadLetter(id, 0, 'HTTP 503'));
        },
        write: async (id) => ((await letters.remove(jobIdFor(id, 0))) ? 'applied' : 'refused'),
        holds: async (id) => (await letters.get(jobIdFor(id, 0))) === undefined,
      },
      {
        name: 'bury-next-try',
        write: async (id) => ((await letters.bury(deadLetter(id, 1, 'HTTP 503 again'))) ? 'applied' : 'refused'),
        holds: async (id) => (await letters.get(jobIdFor(id, 1)))?.lastError === 'HTTP 503 again',
      },
    ];
    const [figures] = await runRaces({
      writers,
      trials: PAIRS,
      concurrency: 8,
      subject: async (trial) => deliveryOf(trial),
    });
    console.log(`      ${formatFigures([figures])}`);
    expect(figures.lost).to.deep.equal({ replay: 0, 'bury-next-try': 0 });
    expect(figures.refused).to.deep.equal({ replay: 0, 'bury-next-try': 0 });
  });

  it('the worker and the failed-job sweep burying one try store it once; the first stands', async () => {
    const id = '00000000-0000-4000-8000-999999999999.down';
    const [first, second] = await Promise.all([
      letters.bury(deadLetter(id, 0, 'from the worker')),
      letters.bury(deadLetter(id, 0, 'from the sweep')),
    ]);
    expect([first, second].filter(Boolean)).to.have.length(1);
    const page = await letters.list({ endpoint: 'down', limit: 500 });
    expect(page.items.filter((doc) => doc.deliveryId === id)).to.have.length(1);
  });
});
