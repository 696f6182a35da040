import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { SimulatedDevice } from '../support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { finished, spawnTs } from '../support/process.js';
import { testMasterKey, testServices, uniqueDatabaseUri } from '../support/services.js';

/**
 * docs/deploy.md's backup story, run for real: the database without device keys, the device keys apart, the
 * database dropped, both restored with the CLI, and a gateway started on the result reads what was there.
 */
describe('backup and restore (gateway db backup / restore)', function () {
  this.timeout(180_000);
  const mongodbUri = uniqueDatabaseUri('backup');
  let dir: string;
  let gw: TestGateway | undefined;
  let port: number;
  // The same port before and after: the simulated device keeps talking to the address it enrolled with.
  const start = () =>
    startTestGateway({
      label: 'backup',
      mongodbUri,
      config: { http: { port } },
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  const db = (args: string[]) =>
    finished(
      spawnTs('core/cli/main.ts', ['db', ...args], {
        MONGODB_URI: mongodbUri,
        REDIS_URL: testServices().redisUrl,
        GATEWAY_SECURITY__MASTER_KEY: testMasterKey,
      }),
      60_000,
    );

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-backup-'));
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    port = (probe.address() as net.AddressInfo).port;
    probe.close();
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restores a dropped database from the two backups, and the gateway serves the data again', async () => {
    gw = await start();
    const created = await gw.fetch('/api/admin/api-keys', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ name: 'kept', scopes: ['devices:read'] }),
    });
    expect(created.status).to.equal(201);
    const { key } = (await created.json()) as { key: string };
    const minted = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'alice' }),
    });
    expect(minted.status).to.equal(201);
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: 'https://gateway.test' });
    await device.downloadProfile(((await minted.json()) as { profileUrl: string }).profileUrl);
    await device.enroll();
    await gw.stop();
    gw = undefined;

    const main = await db(['backup', path.join(dir, 'main'), '--exclude', 'mdm_device_keys', '--json']);
    expect(main.code, main.stderr).to.equal(0);
    const manifest = JSON.parse(main.stdout) as { collections: Record<string, number>; schema: Record<string, number> };
    expect(manifest.collections).to.include.keys('admin_api_keys', 'gateway_migrations');
    expect(manifest.collections).to.not.have.property('mdm_device_keys');
    expect(manifest.schema).to.include({ core: 1 });
    const keys = await db(['backup', path.join(dir, 'keys'), '--only', 'mdm_device_keys', '--json']);
    expect(keys.code, keys.stderr).to.equal(0);
    const keyCounts = JSON.parse(keys.stdout).collections as Record<string, number>;
    expect(Object.keys(keyCounts)).to.deep.equal(['mdm_device_keys']);
    expect(keyCounts.mdm_device_keys).to.be.greaterThan(0);
    expect(readFileSync(path.join(dir, 'main', 'admin_api_keys.ejson'), 'utf8')).to.include('"$date"');

    const connection = await mongoose.createConnection(mongodbUri).asPromise();
    const before = await connection.collection('admin_api_keys').find({}).toArray();
    await connection.dropDatabase();
    expect(await connection.collection('admin_api_keys').countDocuments()).to.equal(0);

    for (const part of ['main', 'keys']) {
      const restored = await db(['restore', path.join(dir, part)]);
      expect(restored.code, restored.stderr).to.equal(0);
      expect(restored.stdout).to.match(/^restored \d+ collections/);
    }
    const after = await connection.collection('admin_api_keys').find({}).toArray();
    expect(after, 'documents come back with their types (dates, ids)').to.deep.equal(before);
    await connection.close();

    gw = await start();
    const devices = await gw.fetch('/api/mdm/devices', { headers: { authorization: `Bearer ${key}` } });
    expect(devices.status, 'the restored API key authenticates').to.equal(200);
    const { items } = (await devices.json()) as { items: { udid: string; state: string }[] };
    expect(items.find((item) => item.udid === device.udid)?.state).to.equal('enrolled');
    // The device's identity and its keys came back: it checks in and polls as before.
    expect(await device.poll()).to.deep.equal([]);
  });

  it('refuses to restore over data without --drop, and refuses a folder without a manifest', async () => {
    const again = await db(['restore', path.join(dir, 'main')]);
    expect(again.code).to.equal(1);
    expect(again.stderr.trim()).to.match(/^gateway: collection \w+ holds data; pass --drop to replace it$/);
    const none = await db(['restore', path.join(dir, 'nothing-here')]);
    expect(none.code).to.equal(1);
    expect(none.stderr.trim()).to.match(/holds no complete backup \(no manifest.json\)$/);
    expect(existsSync(path.join(dir, 'main', 'manifest.json'))).to.equal(true);
  });
});
