import { expect } from 'chai';
import mongoose from 'mongoose';
import { uniqueDatabaseUri } from '../../../test/support/services.js';
import { MongoPushCertificates, type PushCertificateDoc } from '../src/storage/certificates.js';

const PAIRS = 200;

const certificate = (id: string, activatedAt: Date): PushCertificateDoc => ({
  _id: id,
  state: 'active',
  keySealed: 'sealed',
  certPem: 'pem',
  topic: 'com.apple.mgmt.test',
  notAfter: new Date(Date.now() + 86_400_000),
  fingerprint: id,
  createdBy: 'test',
  createdAt: activatedAt,
  activatedAt,
});

/**
 * On the test database (FerretDB rewrites a whole document per update): the expiry job's warning marks and an
 * install retiring the certificate they mark must not overwrite each other, and each threshold is announced once.
 */
describe('apns: certificate records under concurrent writers', function () {
  this.timeout(180_000);
  let connection: mongoose.Connection;
  let records: MongoPushCertificates;

  before(async () => {
    connection = await mongoose.createConnection(uniqueDatabaseUri('apns-records')).asPromise();
    records = new MongoPushCertificates(connection);
    await records.ensureIndexes();
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it(`keeps every retirement that races a warning mark on the retired certificate (${PAIRS} pairs)`, async () => {
    const start = Date.now();
    await records.insert(certificate('cert-0', new Date(start)));
    let warnings = 0;
    for (let i = 1; i <= PAIRS; i++) {
      const activatedAt = new Date(start + i);
      const [first] = await Promise.all([
        records.markWarned({ _id: `cert-${i - 1}` }, 30),
        (async () => {
          await records.insert(certificate(`cert-${i}`, activatedAt));
          await records.settleActive(`cert-${i}`, activatedAt, activatedAt);
        })(),
      ]);
      if (first) warnings++;
    }
    const active = await connection
      .collection('apns_certificates')
      .find({ state: 'active' }, { projection: { _id: 1 } })
      .toArray();
    expect(
      active.map((d) => d._id),
      'only the newest stays active',
    ).to.deep.equal([`cert-${PAIRS}`]);
    expect(warnings).to.equal(PAIRS);
    expect((await records.active())?._id).to.equal(`cert-${PAIRS}`);
  });

  it(`announces a threshold once when two replicas mark it at once (${PAIRS} pairs)`, async () => {
    const outcomes = await Promise.all(
      Array.from({ length: PAIRS }, (_, i) =>
        Promise.all([records.markWarned({ _id: `twice-${i}` }, 7), records.markWarned({ _id: `twice-${i}` }, 7)]),
      ),
    );
    const announced = outcomes.map(([a, b]) => Number(a) + Number(b));
    expect(
      announced.filter((n) => n !== 1),
      'pairs not announced exactly once',
    ).to.have.length(0);
    expect(await records.markWarned({ _id: 'legacy', warned: [7] }, 7), 'marked on the document before').to.equal(
      false,
    );
  });

  it('two installs at once leave one of them active, never none', async () => {
    const at = new Date(Date.now() + 1_000_000);
    await Promise.all(
      ['twin-a', 'twin-b'].map(async (id) => {
        await records.insert(certificate(id, at));
        await records.settleActive(id, at, at);
      }),
    );
    const active = await connection.collection('apns_certificates').find({ state: 'active' }).toArray();
    expect(active.map((d) => d._id)).to.deep.equal(['twin-b']);
  });

  it('the install that inserts after the newer one has settled steps down itself (the interleaving CI once hit)', async () => {
    const at = new Date(Date.now() + 2_000_000);
    await records.insert(certificate('late-b', at));
    await records.settleActive('late-b', at, at);
    await records.insert(certificate('late-a', at));
    await records.settleActive('late-a', at, at);
    const active = await connection.collection('apns_certificates').find({ state: 'active' }).toArray();
    expect(active.map((d) => d._id)).to.deep.equal(['late-b']);
    expect((await records.get('late-a'))?.state).to.equal('retired');
  });
});
