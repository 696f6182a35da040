import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { loadGateway } from '../../core/gateway.js';
import { definePlugin } from '../../core/sdk/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { finished, spawnTs } from '../support/process.js';
import { testServices, uniqueDatabaseUri } from '../support/services.js';

/** A plugin whose migrations leave one document per run, slowly enough for two starters to overlap. */
const migrating = definePlugin({
  name: 'migrating',
  version: '1.0.0',
  coreApi: '^2.0.0',
  register(api) {
    for (const version of [1, 2]) {
      api.migration({
        version,
        description: `step ${version}`,
        async up(ctx) {
          await ctx.mongo.collection('migration_runs').insertOne({ _id: randomUUID() as never, version });
          await new Promise((resolve) => setTimeout(resolve, 400));
        },
      });
    }
  },
});

describe('kernel: schema version and migrations', function () {
  this.timeout(90_000);

  it('runs each migration once when two replicas start at the same time, and records the schema version', async () => {
    const mongodbUri = uniqueDatabaseUri('migrate');
    const started: TestGateway[] = [];
    try {
      const both = await Promise.all(
        [1, 2].map(() => startTestGateway({ label: 'migrate', mongodbUri, plugins: [migrating] })),
      );
      started.push(...both);
      const db = await mongoose.createConnection(mongodbUri).asPromise();
      try {
        const runs = await db.collection('migration_runs').find({}).toArray();
        expect(runs.map((run) => run.version).sort()).to.deep.equal([1, 2]);
        const applied = await db.collection('gateway_migrations').find({}).sort({ _id: 1 }).toArray();
        expect(applied.map((record) => record._id)).to.deep.equal(['core:1', 'migrating:1', 'migrating:2']);
        expect(await db.collection('gateway_migration_lock').countDocuments()).to.equal(0);
      } finally {
        await db.close();
      }
      // A restart finds nothing left to do.
      started.push(await startTestGateway({ label: 'migrate', mongodbUri, plugins: [migrating] }));
      const db2 = await mongoose.createConnection(mongodbUri).asPromise();
      expect(await db2.collection('migration_runs').countDocuments()).to.equal(2);
      await db2.close();
    } finally {
      await Promise.all(started.map((gateway) => gateway.stop()));
    }
  });

  it('refuses with one line to start an older gateway on a newer schema, and changes nothing', async () => {
    const mongodbUri = uniqueDatabaseUri('tooold');
    const db = await mongoose.createConnection(mongodbUri).asPromise();
    // What a newer gateway leaves behind after its own core migration 2.
    await db.collection('gateway_migrations').insertMany([
      { _id: 'core:1' as never, owner: 'core', version: 1, description: 'first', appliedAt: new Date() },
      { _id: 'core:2' as never, owner: 'core', version: 2, description: 'from the future', appliedAt: new Date() },
    ]);
    try {
      const result = await finished(
        spawnTs('core/cli/main.ts', ['serve'], {
          MONGODB_URI: mongodbUri,
          REDIS_URL: testServices().redisUrl,
          GATEWAY_HTTP__PORT: '0',
          GATEWAY_LOG__LEVEL: 'error',
        }),
        60_000,
      );
      expect(result.code, result.stderr).to.equal(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines, result.stderr).to.have.length(1);
      expect(lines[0]).to.equal(
        'gateway: the database schema of "core" is at version 2, newer than this gateway knows (1): run the newer ' +
          'gateway, or restore the backup taken before the upgrade',
      );
      expect(await db.collection('gateway_migrations').countDocuments()).to.equal(2);

      const status = await finished(
        spawnTs('core/cli/main.ts', ['db', 'status', '--json'], {
          MONGODB_URI: mongodbUri,
          REDIS_URL: testServices().redisUrl,
        }),
        60_000,
      );
      expect(status.code, status.stderr).to.equal(0);
      expect(JSON.parse(status.stdout)).to.deep.equal({ schema: { core: 2 } });
    } finally {
      await db.dropDatabase();
      await db.close();
    }
  });

  it('refuses a plugin migration version that is not a whole number used once', async () => {
    const twice = definePlugin({
      name: 'twice',
      version: '1.0.0',
      coreApi: '^2.0.0',
      register(api) {
        api.migration({ version: 1, description: 'a', up: async () => undefined });
        api.migration({ version: 1, description: 'b', up: async () => undefined });
      },
    });
    let error: Error | undefined;
    await loadGateway({ role: 'serve', env: {}, plugins: [twice] }).catch((e: Error) => {
      error = e;
    });
    expect(error?.message).to.match(/twice.*migration version 1 must be a whole number ≥ 1, used once/);
  });
});
