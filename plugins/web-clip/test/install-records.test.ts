import { expect } from 'chai';
import mongoose from 'mongoose';
import { uniqueDatabaseUri } from '../../../test/support/services.js';
import { MongoWebClipInstalls } from '../src/storage/installs.js';

const PAIRS = 200;

/**
 * A device answers the web clip's InstallProfile as it is being unenrolled. On the test database (FerretDB
 * rewrites a whole document per update) the answer could overwrite the removal; as unique inserts, both stand.
 */
describe('web-clip: an answer and a removal of one install at once', function () {
  this.timeout(120_000);
  let connection: mongoose.Connection;
  let installs: MongoWebClipInstalls;

  before(async () => {
    connection = await mongoose.createConnection(uniqueDatabaseUri('webclip-races')).asPromise();
    installs = new MongoWebClipInstalls(connection);
    await installs.ensureIndexes();
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it(`keeps every removal that races the device's answer (${PAIRS} pairs)`, async () => {
    const ids = Array.from({ length: PAIRS }, (_, i) => `device-${i}`);
    for (const id of ids) await installs.queued(id, 'clip', 'Company Portal', `cmd-${id}`);
    await Promise.all(
      ids.map((id) => Promise.all([installs.answered(id, `cmd-${id}`, 'installed'), installs.removed(id)])),
    );
    const states = await Promise.all(ids.map(async (id) => (await installs.get(id))?.state));
    expect(
      states.filter((s) => s !== 'removed'),
      'removals lost',
    ).to.have.length(0);
  });

  it('a new enrollment starts queued again, and installs stored with a state keep it', async () => {
    await installs.queued('device-0', 'clip', 'Company Portal', 'cmd-new');
    expect((await installs.get('device-0'))?.state).to.equal('queued');
    await installs.answered('device-0', 'someone-elses-command', 'failed');
    expect((await installs.get('device-0'))?.state, 'another InstallProfile passes by').to.equal('queued');
    await connection
      .collection('web_clip_installs')
      .insertOne({ _id: 'legacy' as never, identifier: 'clip', label: 'CP', commandUuid: 'old', state: 'failed' });
    expect((await installs.get('legacy'))?.state).to.equal('failed');
  });
});
