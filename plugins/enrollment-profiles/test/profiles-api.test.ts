import { expect } from 'chai';
import {
  fixtureDeviceDirectory,
  fixtureUserDirectory,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { call, createProfile, type ProfileBody } from './helpers.js';

interface ListBody {
  items: ProfileBody[];
  version: number;
  nextCursor: string | null;
}

describe('enrollment-profiles: admin API', () => {
  let gw: TestGateway;
  const directory = fixtureUserDirectory({ groups: ['g-a', 'g-b', 'g-c'] });
  const mdm = fixtureDeviceDirectory();
  const list = async () => (await call<ListBody>(gw, 'GET', '/api/enrollment-profiles?limit=500')).body;
  const count = () =>
    gw.gateway.context('enrollment-profiles').mongo.collection('enrollment_profiles').countDocuments();
  const audit = (action: string) =>
    gw.gateway.context('enrollment-profiles').mongo.collection('audit_log').find({ action }).sort({ at: 1 }).toArray();

  before(async () => {
    gw = await startTestGateway({
      label: 'epapi',
      enable: ['admin-access', 'enrollment-profiles'],
      plugins: [testAdminTokens, directory.plugin, mdm.plugin],
      // config/default.yaml disables identity-entra; the fixture standing in for it must be enabled.
      config: { plugins: { 'identity-entra': { enabled: true } } },
    });
  });
  after(() => gw?.stop());

  it('guards every route: 401 without credentials, 403 without the profiles scopes', async () => {
    expect((await gw.fetch('/api/enrollment-profiles')).status).to.equal(401);
    expect((await call(gw, 'GET', '/api/enrollment-profiles', undefined, { token: 'reader' })).status).to.equal(403);
    expect((await call(gw, 'GET', '/api/setup/checklist', undefined, { token: 'reader' })).status).to.equal(403);
    expect((await call(gw, 'GET', '/api/device-limit-policies', undefined, { token: 'reader' })).status).to.equal(403);
  });

  it('reports the setup checklist: what is missing, with where to fix it', async () => {
    mdm.missing.push({ item: 'push-certificate', problem: 'no valid Apple MDM push certificate is installed' });
    const res = await call<{
      complete: boolean;
      items: { item: string; ok: boolean; problem?: string; link: string }[];
    }>(gw, 'GET', '/api/setup/checklist');
    mdm.missing.length = 0;
    expect(res.status).to.equal(200);
    expect(res.body.complete).to.equal(false);
    const byItem = Object.fromEntries(res.body.items.map((i) => [i.item, i]));
    expect(byItem.ca.ok).to.equal(true);
    expect(byItem['signing-certificate'].ok).to.equal(true);
    expect(byItem['push-certificate']).to.include({
      ok: false,
      problem: 'no valid Apple MDM push certificate is installed',
    });
    expect(byItem['identity-provider'].ok).to.equal(true);
    expect(byItem['enrollment-profile'].ok).to.equal(false);
    for (const item of res.body.items) expect(item.link).to.be.a('string').and.not.equal('');
  });

  it('creates, reads, updates and deletes profiles, with priority derived from the order', async () => {
    const first = await createProfile(gw, { name: 'First', allUsers: true });
    const second = await createProfile(gw, { name: 'Second', include: ['g-a'], exclude: ['g-b'] });
    const top = await createProfile(gw, { name: 'Top', enrollmentType: 'app-based', include: ['g-c'], priority: 1 });
    expect([first.priority, second.priority, top.priority]).to.deep.equal([1, 2, 1]);
    let body = await list();
    expect(body.items.map((p) => [p.name, p.priority])).to.deep.equal([
      ['Top', 1],
      ['First', 2],
      ['Second', 3],
    ]);
    const got = await call<ProfileBody>(gw, 'GET', `/api/enrollment-profiles/${second.id}`);
    expect(got.body).to.include({ name: 'Second', priority: 3, version: 1, enrollmentType: 'web-based' });
    expect(got.headers.get('etag')).to.equal('"1"');

    const patched = await call<ProfileBody>(
      gw,
      'PATCH',
      `/api/enrollment-profiles/${second.id}`,
      {
        description: 'for group A',
        enrollmentType: 'app-based',
      },
      { headers: { 'if-match': '"1"' } },
    );
    expect(patched.status, JSON.stringify(patched.body)).to.equal(200);
    expect(patched.body).to.include({
      description: 'for group A',
      enrollmentType: 'app-based',
      version: 2,
      priority: 3,
    });
    const stale = await call(gw, 'PATCH', `/api/enrollment-profiles/${second.id}`, { description: 'x', version: 1 });
    expect(stale.status).to.equal(409);
    expect(stale.body).to.include({ currentVersion: 2 });
    expect((await call(gw, 'PATCH', `/api/enrollment-profiles/${second.id}`, { description: 'x' })).status).to.equal(
      428,
    );

    const [update] = await audit('enrollment-profile.update');
    expect(update.before).to.include({ description: '', version: 1 });
    expect(update.after).to.include({ description: 'for group A', version: 2 });
    expect(update.actor).to.include({ id: 'test-admin' });

    expect((await call(gw, 'DELETE', `/api/enrollment-profiles/${top.id}?version=7`)).status).to.equal(409);
    expect((await call(gw, 'DELETE', `/api/enrollment-profiles/${top.id}`)).status).to.equal(204);
    expect((await call(gw, 'GET', `/api/enrollment-profiles/${top.id}`)).status).to.equal(404);
    body = await list();
    expect(body.items.map((p) => [p.name, p.priority])).to.deep.equal([
      ['First', 1],
      ['Second', 2],
    ]);
    expect((await audit('enrollment-profile.delete'))[0].before).to.include({ name: 'Top' });
    expect((await audit('enrollment-profile.create')).map((e) => e.after.name)).to.deep.equal([
      'First',
      'Second',
      'Top',
    ]);
    const checklist = await call<{ items: { item: string; ok: boolean }[] }>(gw, 'GET', '/api/setup/checklist');
    expect(checklist.body.items.find((i) => i.item === 'enrollment-profile')?.ok).to.equal(true);
  });

  it('refuses bad input with problem+json and saves nothing', async () => {
    const before = await count();
    const valid = { name: 'Valid', enrollmentType: 'web-based', assignments: { allUsers: true } };
    const cases: [string, unknown, RegExp][] = [
      [
        'unknown group ids',
        { ...valid, assignments: { includedGroups: ['g-a', 'g-nope'] } },
        /unknown group ids: g-nope/,
      ],
      ['unknown excluded group', { ...valid, assignments: { allUsers: true, excludedGroups: ['g-zz'] } }, /g-zz/],
      ['duplicate name (other case)', { ...valid, name: 'fIRST' }, /already exists/],
      [
        'empty assignments',
        { ...valid, assignments: { allUsers: false, includedGroups: [] } },
        /all users or to at least one group/,
      ],
      ['no assignments at all', { ...valid, assignments: {} }, /all users or to at least one group/],
      [
        'both included and excluded',
        { ...valid, assignments: { includedGroups: ['g-a'], excludedGroups: ['g-a'] } },
        /both included and excluded/,
      ],
      ['name over 100', { ...valid, name: 'n'.repeat(101) }, /at most 100/],
      ['description over 1000', { ...valid, description: 'd'.repeat(1001) }, /at most 1000/],
      ['empty name', { ...valid, name: '   ' }, /must not be empty/],
      ['control characters in the name', { ...valid, name: 'bad\u0007name' }, /control characters/],
      ['unknown type', { ...valid, enrollmentType: 'mdm-magic' }, /enrollmentType/],
      ['unknown field', { ...valid, color: 'red' }, /color/],
    ];
    for (const [name, body, pattern] of cases) {
      const res = await call<{ detail: string }>(gw, 'POST', '/api/enrollment-profiles', body);
      expect(res.status, name).to.equal(400);
      expect(res.headers.get('content-type'), name).to.match(/^application\/problem\+json/);
      expect(res.body.detail, name).to.match(pattern);
    }
    const { items } = await list();
    const first = items.find((p) => p.name === 'First')!;
    const rename = await call(gw, 'PATCH', `/api/enrollment-profiles/${first.id}`, {
      name: 'SECOND',
      version: first.version,
    });
    expect(rename.status).to.equal(400);
    const unknownGroup = await call(gw, 'PATCH', `/api/enrollment-profiles/${first.id}`, {
      assignments: { includedGroups: ['g-nope'] },
      version: first.version,
    });
    expect(unknownGroup.status).to.equal(400);
    expect(await count()).to.equal(before);
    expect((await call<ProfileBody>(gw, 'GET', `/api/enrollment-profiles/${first.id}`)).body.version).to.equal(
      first.version,
    );
  });

  it('stores markup in names verbatim and returns it as JSON data', async () => {
    const name = '<img src=x onerror="alert(1)"> & <b>VIP</b>';
    const created = await createProfile(gw, { name, allUsers: true });
    const res = await gw.fetch(`/api/enrollment-profiles/${created.id}`, {
      headers: { authorization: 'Bearer admin-all' },
    });
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    expect(((await res.json()) as ProfileBody).name).to.equal(name);
    expect((await call(gw, 'DELETE', `/api/enrollment-profiles/${created.id}`)).status).to.equal(204);
  });

  it('reorders by a full order or a single move; stale or incomplete orders are refused', async () => {
    await createProfile(gw, { name: 'Third', include: ['g-c'] });
    let body = await list();
    const ids = body.items.map((p) => p.id);
    const reversed = [...ids].reverse();
    const ok = await call<{ order: string[]; version: number }>(gw, 'PUT', '/api/enrollment-profiles/order', {
      order: reversed,
      version: body.version,
    });
    expect(ok.status).to.equal(200);
    expect(ok.body.order).to.deep.equal(reversed);
    const stale = await call(gw, 'PUT', '/api/enrollment-profiles/order', { order: ids, version: body.version });
    expect(stale.status).to.equal(409);
    expect(stale.headers.get('content-type')).to.match(/problem\+json/);
    expect(stale.body).to.include({ currentVersion: ok.body.version });
    for (const order of [ids.slice(1), [...ids, ids[0]], [...ids.slice(1), 'nope']]) {
      expect(
        (await call(gw, 'PUT', '/api/enrollment-profiles/order', { order, version: ok.body.version })).status,
      ).to.equal(400);
    }
    const moved = await call<{ order: string[] }>(gw, 'POST', `/api/enrollment-profiles/${ids[0]}/move`, {
      toPosition: 1,
      version: ok.body.version,
    });
    expect(moved.status).to.equal(200);
    expect(moved.body.order).to.deep.equal([ids[0], ids[2], ids[1]]);
    expect(
      (await call(gw, 'POST', `/api/enrollment-profiles/${ids[0]}/move`, { toPosition: 2, version: ok.body.version }))
        .status,
    ).to.equal(409);
    body = await list();
    expect(
      (await call(gw, 'POST', `/api/enrollment-profiles/${ids[0]}/move`, { toPosition: 9, version: body.version }))
        .status,
    ).to.equal(400);
    expect(body.items.map((p) => p.priority)).to.deep.equal([1, 2, 3]);
    const reorders = await audit('enrollment-profile.reorder');
    expect(reorders.at(-1)?.before.order).to.deep.equal(ids);
    expect(reorders.at(-1)?.after.order).to.deep.equal(reversed);
    const page = await call<ListBody>(gw, 'GET', '/api/enrollment-profiles?limit=2');
    expect(page.body.items.map((p) => p.priority)).to.deep.equal([1, 2]);
    const next = await call<ListBody>(gw, 'GET', `/api/enrollment-profiles?limit=2&cursor=${page.body.nextCursor}`);
    expect(next.body.items.map((p) => p.priority)).to.deep.equal([3]);
    expect(next.body.nextCursor).to.equal(null);
  });

  it('lets exactly one of several parallel reorders with the same version win, leaving no gaps or duplicates', async () => {
    for (let i = 0; i < 5; i++) await createProfile(gw, { name: `Parallel ${i}`, include: ['g-a'] });
    const body = await list();
    const ids = body.items.map((p) => p.id);
    const shuffles = Array.from({ length: 8 }, (_, n) =>
      [...ids.slice(n % ids.length), ...ids.slice(0, n % ids.length)].reverse(),
    );
    const results = await Promise.all(
      shuffles.map((order, n) =>
        n % 2 === 0
          ? call(gw, 'PUT', '/api/enrollment-profiles/order', { order, version: body.version })
          : call(gw, 'POST', `/api/enrollment-profiles/${ids[n]}/move`, { toPosition: 1, version: body.version }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).to.have.length(1);
    expect(statuses.filter((s) => s === 409)).to.have.length(shuffles.length - 1);
    // Meanwhile creates and deletes retry against the same ordering document instead of failing.
    const created = await Promise.all(
      Array.from({ length: 4 }, (_, i) => createProfile(gw, { name: `Racer ${i}`, allUsers: true })),
    );
    await Promise.all(created.slice(0, 2).map((p) => call(gw, 'DELETE', `/api/enrollment-profiles/${p.id}`)));
    const after = await list();
    const priorities = after.items.map((p) => p.priority);
    expect(priorities).to.deep.equal(Array.from({ length: priorities.length }, (_, i) => i + 1));
    expect(new Set(after.items.map((p) => p.id)).size).to.equal(after.items.length);
    expect(after.items.length).to.equal(ids.length + 2);
    expect(await count()).to.equal(after.items.length);
  });
});
