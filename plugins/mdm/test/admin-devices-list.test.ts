/**
 * GET /api/mdm/devices: search and filters (user, state, OS version, last check-in), sort orders, a keyset
 * cursor that stays stable while devices check in, and status items other plugins contribute.
 */
import { expect } from 'chai';
import { definePlugin, deviceStatusItemsPoint, type PluginContext } from 'enrollment-gateway/sdk';
import mongoose from 'mongoose';
import { adminHeaders, recordingPush, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import type { MdmConfig } from '../src/config.js';
import { buildServices } from '../src/services/build.js';

const compliance = definePlugin({
  name: 'test-compliance',
  version: '1.0.0',
  coreApi: '^2.0.0',
  register(api) {
    api.contribute(deviceStatusItemsPoint, () => ({
      async statusFor(devices) {
        return Object.fromEntries(
          devices
            .filter((d) => d.osVersion?.startsWith('16'))
            .map((d) => [d.id, [{ label: 'Compliance', value: 'Not compliant', tone: 'critical' as const }]]),
        );
      },
    }));
  },
});

interface Page {
  items: { id: string; deviceName: string; statusItems: { label: string; value: string; source: string }[] }[];
  nextCursor: string | null;
}

describe('mdm admin API: the devices list', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const day = 86_400_000;
  const now = Date.now();

  before(async () => {
    gw = await startTestGateway({
      label: 'mdmdevlist',
      enable: ['admin-access', 'mdm'],
      plugins: [testAdminTokens, recordingPush().plugin, compliance],
    });
    const conn = await mongoose.createConnection(gw.mongodbUri).asPromise();
    const devices = [
      { deviceName: 'A', userId: 'alice', state: 'enrolled', osVersion: '17.5', lastSeenAt: new Date(now - 1 * day) },
      {
        deviceName: 'B',
        userId: 'alice',
        state: 'enrolled',
        osVersion: '16.7.2',
        lastSeenAt: new Date(now - 10 * day),
      },
      { deviceName: 'C', userId: 'bob', state: 'retired', osVersion: '17.4', lastSeenAt: new Date(now - 40 * day) },
      { deviceName: 'D', userId: 'bob', state: 'pending' },
      { deviceName: 'E', userId: 'carol', state: 'enrolled', osVersion: '17.5.1', lastSeenAt: new Date(now - 1 * day) },
      {
        deviceName: 'F',
        userId: 'carol',
        state: 'checked-out',
        osVersion: '170.1',
        lastSeenAt: new Date(now - 3 * day),
      },
    ];
    await conn.collection('mdm_devices').insertMany(
      devices.map((d, i) => ({
        _id: new mongoose.Types.ObjectId(`6600000000000000000000${String(i).padStart(2, '0')}`),
        udid: `UDID-${d.deviceName}`,
        serialNumber: `SER${d.deviceName}`,
        identityFingerprints: [],
        managedApps: [],
        installedProfiles: [],
        createdAt: new Date(now - 50 * day + i),
        updatedAt: new Date(),
        ...d,
      })),
    );
    await conn.close();
    // Recorded as an older gateway stored devices (every field on one record): the start-up migration turns
    // them into the one-writer records the list reads.
    await buildServices(gw.gateway.context('mdm') as PluginContext<MdmConfig>).migration.run();
  });
  after(async () => {
    await gw?.stop();
  });

  async function list(query: string, expectStatus = 200): Promise<Page> {
    const res = await gw.fetch(`/api/mdm/devices?${query}`, { headers: adminHeaders('reader') });
    expect(res.status, await res.clone().text()).to.equal(expectStatus);
    return (await res.json()) as Page;
  }
  const names = (page: Page) => page.items.map((d) => d.deviceName);

  async function all(query: string): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`${query}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...names(page));
      cursor = page.nextCursor;
    } while (cursor);
    return seen;
  }

  it('filters by user, state (one or several), OS version prefix and last check-in', async () => {
    expect(names(await list('userId=alice'))).to.deep.equal(['A', 'B']);
    expect(names(await list('state=enrolled'))).to.deep.equal(['A', 'B', 'E']);
    expect(names(await list('state=retired&state=pending'))).to.deep.equal(['C', 'D']);
    expect(names(await list('osVersion=17'))).to.deep.equal(['A', 'C', 'E']);
    expect(names(await list('osVersion=17.5'))).to.deep.equal(['A', 'E']);
    const fiveDaysAgo = new Date(now - 5 * day).toISOString();
    expect(names(await list(`lastCheckInBefore=${fiveDaysAgo}`))).to.deep.equal(['B', 'C']);
    expect(names(await list(`lastCheckInAfter=${fiveDaysAgo}&userId=carol`))).to.deep.equal(['E', 'F']);
    expect(names(await list('q=ser'))).to.have.length(6);
    expect(names(await list('q=udid-c'))).to.deep.equal(['C']);
    expect(names(await list('q=.*'))).to.deep.equal([]);
  });

  it('pages every order with a cursor, each device exactly once, devices without check-in included', async () => {
    expect(await all('sort=enrolled')).to.deep.equal(['A', 'B', 'C', 'D', 'E', 'F']);
    expect(await all('sort=-enrolled')).to.deep.equal(['F', 'E', 'D', 'C', 'B', 'A']);
    // A and E checked in at the same instant: the id breaks the tie, in the same direction.
    expect(await all('sort=-lastCheckIn')).to.deep.equal(['E', 'A', 'F', 'B', 'C', 'D']);
    expect(await all('sort=lastCheckIn')).to.deep.equal(['D', 'C', 'B', 'F', 'A', 'E']);
  });

  it('keeps a cursor stable while devices check in, and refuses a cursor of another order', async () => {
    const first = await list('sort=enrolled&limit=3');
    expect(names(first)).to.deep.equal(['A', 'B', 'C']);
    const conn = await mongoose.createConnection(gw.mongodbUri).asPromise();
    await conn
      .collection('mdm_presence')
      .updateOne({ _id: '660000000000000000000000' as never }, { $set: { lastSeenAt: new Date() } });
    await conn.close();
    expect(names(await list(`sort=enrolled&limit=3&cursor=${first.nextCursor}`))).to.deep.equal(['D', 'E', 'F']);
    const wrong = await gw.fetch(`/api/mdm/devices?sort=-lastCheckIn&cursor=${first.nextCursor}`, {
      headers: adminHeaders('reader'),
    });
    expect(wrong.status).to.equal(400);
    expect(((await wrong.json()) as { issues: { path: string }[] }).issues[0].path).to.equal('cursor');
    const garbage = await gw.fetch('/api/mdm/devices?cursor=%7B%7D', { headers: adminHeaders('reader') });
    expect(garbage.status).to.equal(400);
    const badState = await gw.fetch('/api/mdm/devices?state=lost', { headers: adminHeaders('reader') });
    expect(badState.status).to.equal(400);
    expect(badState.headers.get('content-type')).to.match(/^application\/problem\+json/);
  });

  it('adds the status items other plugins contribute, naming the plugin', async () => {
    const page = await list('userId=alice');
    expect(page.items[1].statusItems).to.deep.equal([
      { label: 'Compliance', value: 'Not compliant', tone: 'critical', source: 'test-compliance' },
    ]);
    expect(page.items[0].statusItems).to.deep.equal([]);
  });

  it('reads pages from the database in index order: a page reads its batch, never the whole fleet', async () => {
    const mongo = gw.gateway.context('mdm').mongo;
    const reads: { collection: string; method: string; args: unknown[] }[] = [];
    mongo.set('debug', (collection: string, method: string, ...args: unknown[]) => {
      if (['mdm_devices', 'mdm_presence'].includes(collection)) reads.push({ collection, method, args });
    });
    try {
      expect(names(await list('sort=enrolled&limit=2'))).to.deep.equal(['A', 'B']);
      // A checked in just now (the test before).
      expect(names(await list('sort=-lastCheckIn&limit=2'))).to.deep.equal(['A', 'E']);
    } finally {
      mongo.set('debug', undefined);
    }
    // Each driving read is sorted and limited by the database; the others fetch that batch's devices by _id.
    const drivers = reads.filter((r) => r.method === 'find' && !JSON.stringify(r.args[0]).includes('$in'));
    expect(drivers.map((r) => r.collection)).to.deep.equal(['mdm_devices', 'mdm_presence']);
    for (const driver of drivers) expect(driver.args[driver.args.length - 1]).to.have.property('limit', 20);
  });
});
