import { expect } from 'chai';
import mongoose from 'mongoose';
import { uniqueDatabaseUri } from '../../../test/support/services.js';
import { MongoUserStorage } from '../src/storage/user-records.js';
import { MongoUserDirectory } from '../src/users.js';

const PAIRS = 200;

const identity = (i: number) => ({
  subject: `race-user-${i}`,
  username: `user${i}@contoso.test`,
  displayName: `User ${i}`,
  tenantId: 'tenant',
  groups: ['g1'],
  roles: [],
});

/**
 * On the test database (FerretDB rewrites a whole document per update), an admin's disable that races the same
 * user's sign-in must stand: the sign-in writes the profile, the disable its own record.
 */
describe('identity-entra: sign-in and disable of one user at once', function () {
  this.timeout(180_000);
  let connection: mongoose.Connection;
  let directory: MongoUserDirectory;

  before(async () => {
    connection = await mongoose.createConnection(uniqueDatabaseUri('user-races')).asPromise();
    const storage = new MongoUserStorage(connection);
    await storage.prepare();
    directory = new MongoUserDirectory(storage);
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it(`keeps every disable that races a sign-in (${PAIRS} pairs)`, async () => {
    for (let i = 0; i < PAIRS; i++) await directory.recordSignIn(identity(i), 'entra');
    await Promise.all(
      Array.from({ length: PAIRS }, async (_, i) => {
        await Promise.all([
          (async () => {
            const user = await directory.recordSignIn(identity(i), 'entra');
            await directory.markSignedIn(user.id, new Date());
          })(),
          directory.setEnabled(identity(i).subject, false),
        ]);
      }),
    );
    const users = await Promise.all(Array.from({ length: PAIRS }, (_, i) => directory.get(identity(i).subject)));
    const lost = users.filter((u) => u?.enabled !== false).length;
    expect(lost, `${lost} of ${PAIRS} disables lost`).to.equal(0);
    const signedIn = users.filter((u) => u?.lastSignInAt instanceof Date).length;
    expect(signedIn, 'every sign-in time stays recorded').to.equal(PAIRS);
    const listed = await directory.list({ limit: PAIRS + 1, enabled: false });
    expect(listed).to.have.length(PAIRS);
    expect(await directory.list({ limit: 10, enabled: true })).to.have.length(0);
  });

  it('moves users stored with enabled: false into disabled records once, and a later enable stays', async () => {
    const users = connection.collection<{ _id: string }>('identity_users');
    await users.insertOne({
      _id: 'legacy-user',
      upn: 'legacy@contoso.test',
      displayName: 'Legacy',
      enabled: false,
      groups: [],
      roles: [],
      provider: 'entra',
    } as never);
    await connection.collection('identity_migrations').deleteMany({});
    await new MongoUserStorage(connection).prepare();
    expect((await directory.get('legacy-user'))?.enabled).to.equal(false);
    await directory.setEnabled('legacy-user', true);
    await new MongoUserStorage(connection).prepare();
    expect((await directory.get('legacy-user'))?.enabled, 'a second start does not disable again').to.equal(true);
  });
});
