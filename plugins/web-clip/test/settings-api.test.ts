/**
 * The web clip settings admin API: config values until an admin saves, zod validation (400, nothing saved),
 * the version required (428) and a stale one refused (409), audit entries, scopes, and the profile new
 * enrollments get — on the replica that saved and on another one sharing MongoDB and Redis.
 */
import { expect } from 'chai';
import { deviceDirectoryRef, managedItemsPoint } from 'enrollment-gateway/sdk';
import { parse as parsePlist } from 'plist';
import { formatViolations, validatePayload } from '../../../test/support/apple-schema.js';
import { type AnsweredCommand, SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';

const PUBLIC_URL = 'https://gateway.test';

interface SettingsJson {
  label: string;
  url: string | null;
  effectiveUrl: string;
  isRemovable: boolean;
  fullScreen: boolean;
  version: number;
  updatedBy: string | null;
}

const start = (label: string, shared?: { mongodbUri: string; redisPrefix: string }) =>
  startTestGateway({
    label,
    enable: ['mdm', 'admin-access', 'company-portal', 'web-clip'],
    plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    config: { plugins: { 'web-clip': { label: 'Portal', isRemovable: true, fullScreen: false } } },
    ...shared,
  });

/** Enrolls a simulated iPhone through `gw` and returns the web clip payload it was sent. */
async function enrollAndReadClip(gw: TestGateway): Promise<{ clip: Record<string, unknown>; deviceId: string }> {
  const mint = await gw.fetch('/api/mdm/enrollments', {
    method: 'POST',
    headers: adminHeaders(),
    body: JSON.stringify({ userId: 'alice' }),
  });
  expect(mint.status).to.equal(201);
  const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
  await device.downloadProfile(((await mint.json()) as { profileUrl: string }).profileUrl);
  await device.enroll();
  await eventsDelivered(gw.gateway);
  const record = await gw.gateway.context('web-clip').resolve(deviceDirectoryRef).getByUdid(device.udid);
  const answered = await device.poll();
  const install = answered.find((a) => a.requestType === 'InstallProfile') as AnsweredCommand;
  expect(install.status).to.equal('Acknowledged');
  const dict = parsePlist((install.command.Payload as Buffer).toString('utf8')) as Record<string, unknown>;
  const [clip] = dict.PayloadContent as Record<string, unknown>[];
  expect(formatViolations(validatePayload('com.apple.webClip.managed', clip, { os: 'iOS' }))).to.equal('');
  return { clip, deviceId: String(record?.id) };
}

describe('web-clip: settings admin API', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  let replica: TestGateway;

  const get = async (token?: string) => {
    const res = await gw.fetch('/api/web-clip/settings', { headers: adminHeaders(token) });
    expect(res.status).to.equal(200);
    return { etag: res.headers.get('etag'), body: (await res.json()) as SettingsJson };
  };
  const put = (body: unknown, headers: Record<string, string> = {}, on: TestGateway = gw) =>
    on.fetch('/api/web-clip/settings', {
      method: 'PUT',
      headers: { ...adminHeaders(), ...headers },
      body: JSON.stringify(body),
    });
  const auditEntries = () =>
    gw.gateway
      .context('web-clip')
      .mongo.collection('audit_log')
      .find({ action: 'webClip.settings.update' })
      .sort({ _id: 1 })
      .toArray();

  before(async () => {
    gw = await start('webclipapi');
    replica = await start('webclipapib', { mongodbUri: gw.mongodbUri, redisPrefix: gw.redisPrefix });
  });
  after(async () => {
    await replica?.stop();
    await gw?.stop();
  });

  it('serves the config values as version 0 and guards both routes with the policies scopes', async () => {
    const { etag, body } = await get();
    expect(etag).to.equal('"0"');
    expect(body).to.include({
      label: 'Portal',
      url: null,
      effectiveUrl: `${PUBLIC_URL}/`,
      isRemovable: true,
      fullScreen: false,
      version: 0,
      updatedBy: null,
    });
    expect((await gw.fetch('/api/web-clip/settings')).status).to.equal(401);
    const readerGet = await gw.fetch('/api/web-clip/settings', { headers: adminHeaders('reader') });
    expect(readerGet.status).to.equal(403);
    const readerPut = await put(
      { label: 'X', isRemovable: true, fullScreen: false, version: 0 },
      { authorization: 'Bearer reader' },
    );
    expect(readerPut.status).to.equal(403);
    expect(readerPut.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect((await get()).body.version).to.equal(0);
  });

  it('refuses invalid settings with 400 naming each field, and a save without a version with 428; nothing is saved', async () => {
    const bad = await put(
      { label: ' ', url: 'http://portal.example.com', isRemovable: 'yes', fullScreen: false, extra: 1 },
      { 'if-match': '"0"' },
    );
    expect(bad.status).to.equal(400);
    expect(bad.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const problem = (await bad.json()) as { issues: { path: string; message: string }[] };
    const byPath = Object.fromEntries(problem.issues.map((i) => [i.path, i.message]));
    expect(byPath.label).to.equal('enter the name shown under the icon');
    expect(byPath.url).to.equal('must be an https URL');
    expect(byPath).to.have.property('isRemovable');
    expect(problem.issues.some((i) => i.message.includes('extra'))).to.equal(true);

    const long = await put({ label: 'x'.repeat(41), isRemovable: true, fullScreen: false, version: 0 });
    expect(long.status).to.equal(400);

    const unversioned = await put({ label: 'Contoso', isRemovable: true, fullScreen: false });
    expect(unversioned.status).to.equal(428);
    expect(
      (await put({ label: 'Contoso', isRemovable: true, fullScreen: false }, { 'if-match': 'abc' })).status,
    ).to.equal(412);
    expect(
      (await put({ label: 'Contoso', isRemovable: true, fullScreen: false, version: 3 }, { 'if-match': '"0"' })).status,
    ).to.equal(400);
    expect((await get()).body.version).to.equal(0);
    expect(await auditEntries()).to.have.length(0);
  });

  it('saves with the version read, audits it, and answers 409 to a stale save without changing anything', async () => {
    const saved = await put(
      { label: 'Contoso Portal', url: 'https://portal.contoso.com/start', isRemovable: false, fullScreen: true },
      { 'if-match': '"0"' },
    );
    expect(saved.status, await saved.clone().text()).to.equal(200);
    expect(saved.headers.get('etag')).to.equal('"1"');
    expect(await saved.json()).to.include({
      label: 'Contoso Portal',
      url: 'https://portal.contoso.com/start',
      effectiveUrl: 'https://portal.contoso.com/start',
      version: 1,
      updatedBy: 'test-admin',
    });

    const [entry, ...more] = await auditEntries();
    expect(more).to.have.length(0);
    expect(entry.actor).to.include({ id: 'test-admin' });
    expect(entry.target).to.deep.equal({ type: 'web-clip-settings', id: 'default' });
    expect(entry.before).to.include({ label: 'Portal', version: 0 });
    expect(entry.after).to.include({ label: 'Contoso Portal', fullScreen: true, version: 1 });

    // An admin who read version 0 before that save.
    const stale = await put({ label: 'Old tab', isRemovable: true, fullScreen: false, version: 0 });
    expect(stale.status).to.equal(409);
    expect(stale.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect(await stale.json()).to.include({ status: 409, currentVersion: 1 });
    expect((await get()).body).to.include({ label: 'Contoso Portal', version: 1 });
    expect(await auditEntries()).to.have.length(1);
  });

  it('lets exactly one of ten simultaneous saves of the same version through', async () => {
    const { body } = await get();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        put({ label: `Tab ${i}`, isRemovable: true, fullScreen: false, version: body.version }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).to.have.length(1);
    expect(statuses.filter((s) => s === 409)).to.have.length(9);
    const winner = (await answers.find((a) => a.status === 200)?.json()) as SettingsJson;
    expect((await get()).body).to.include({ label: winner.label, version: body.version + 1 });
    expect(await auditEntries()).to.have.length(2);
  });

  it('takes over the claim of a save whose process died, but not one still in flight', async () => {
    const { body } = await get();
    const claims = gw.gateway
      .context('web-clip')
      .mongo.collection<{ _id: string; at: Date }>('web_clip_settings_claims');
    await claims.insertOne({ _id: `default@${body.version + 1}`, at: new Date() });
    const held = await put({ label: 'Blocked', isRemovable: true, fullScreen: false, version: body.version });
    expect(held.status).to.equal(409);
    await claims.updateOne({ _id: `default@${body.version + 1}` }, { $set: { at: new Date(Date.now() - 120_000) } });
    const taken = await put({ label: 'Recovered', isRemovable: true, fullScreen: false, version: body.version });
    expect(taken.status).to.equal(200);
    expect((await get()).body).to.include({ label: 'Recovered', version: body.version + 1 });
  });

  it('builds the web clip of new enrollments from the saved settings, on every replica', async () => {
    const { body } = await get();
    // The other replica enrolls a device first: anything it kept in memory would now be the current settings.
    const first = await enrollAndReadClip(replica);
    expect(first.clip).to.include({ Label: body.label, URL: `${PUBLIC_URL}/`, IsRemovable: true });

    const saved = await put(
      { label: 'Contoso Apps', url: 'https://apps.contoso.com/', isRemovable: false, fullScreen: true },
      { 'if-match': `"${body.version}"` },
    );
    expect(saved.status).to.equal(200);
    for (const on of [replica, gw]) {
      const { clip, deviceId } = await enrollAndReadClip(on);
      expect(clip).to.include({
        Label: 'Contoso Apps',
        URL: 'https://apps.contoso.com/',
        IsRemovable: false,
        FullScreen: true,
        Precomposed: true,
      });
      const [source] = on.gateway
        .context('web-clip')
        .extensions(managedItemsPoint)
        .filter((c) => c.plugin === 'web-clip');
      await eventually(async () =>
        expect(await source.value.installedOn(deviceId)).to.deep.equal([
          { kind: 'profile', identifier: 'test.gateway.webclip', displayName: 'Contoso Apps' },
        ]),
      );
    }

    // Back to the portal's URL: null (or leaving url out) means "the company portal".
    const reset = await put(
      { label: 'Contoso Apps', isRemovable: false, fullScreen: true },
      { 'if-match': `"${body.version + 1}"` },
    );
    expect(await reset.json()).to.include({ url: null, effectiveUrl: `${PUBLIC_URL}/` });
    expect((await enrollAndReadClip(replica)).clip.URL).to.equal(`${PUBLIC_URL}/`);
  });
});
