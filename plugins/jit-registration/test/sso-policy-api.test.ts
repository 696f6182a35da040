/**
 * Optimistic concurrency of PUT /api/jit/sso-policy: the ETag is the version, a save needs the version it
 * read (If-Match or body), a stale one is refused with 409 and changes nothing, and of simultaneous saves of
 * the same version exactly one lands.
 */
import { expect } from 'chai';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';

interface PolicyJson {
  urls: string[];
  appPrefixAllowList: string;
  browserSsoInteractionEnabled: boolean;
  disableExplicitAppPrompt: boolean;
  additionalExtensionData: Record<string, unknown>;
  version: number;
  updatedBy: string | null;
}

describe('jit-registration: SSO policy versions and stale edits', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  const get = async () => {
    const res = await gw.fetch('/api/jit/sso-policy', { headers: adminHeaders() });
    expect(res.status).to.equal(200);
    const { version, updatedBy, updatedAt: _at, ...policy } = (await res.json()) as PolicyJson & { updatedAt: unknown };
    return { etag: res.headers.get('etag'), version, updatedBy, policy };
  };
  const put = (body: unknown, headers: Record<string, string> = {}) =>
    gw.fetch('/api/jit/sso-policy', {
      method: 'PUT',
      headers: { ...adminHeaders(), ...headers },
      body: JSON.stringify(body),
    });
  const auditEntries = () =>
    gw.gateway
      .context('jit-registration')
      .mongo.collection('audit_log')
      .find({ action: 'jit.ssoPolicy.update' })
      .sort({ _id: 1 })
      .toArray();

  before(async () => {
    gw = await startTestGateway({
      label: 'jitpolicy',
      enable: ['mdm', 'admin-access', 'jit-registration'],
      plugins: [testAdminTokens],
    });
  });
  after(() => gw?.stop());

  it('answers the version as ETag and wants it back: 428 without, 412 for a malformed If-Match', async () => {
    const { etag, version, policy } = await get();
    expect(etag).to.equal('"0"');
    expect(version).to.equal(0);
    const none = await put(policy);
    expect(none.status).to.equal(428);
    expect(none.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect((await put(policy, { 'if-match': '*' })).status).to.equal(412);
    expect((await put({ ...policy, version: 2 }, { 'if-match': '"0"' })).status).to.equal(400);
    // Strict body: anything but the policy and its version is refused.
    const unknown = await put({ ...policy, version: 0, versoin: 1 });
    expect(unknown.status).to.equal(400);
    expect((await get()).version).to.equal(0);
    expect(await auditEntries()).to.have.length(0);
  });

  it('saves over the version read (If-Match or body) and refuses a stale save with 409, keeping the newer one', async () => {
    const { policy } = await get();
    const first = await put({ ...policy, appPrefixAllowList: 'com.apple.,com.contoso.' }, { 'if-match': 'W/"0"' });
    expect(first.status, await first.clone().text()).to.equal(200);
    expect(first.headers.get('etag')).to.equal('"1"');
    expect(await first.json()).to.include({ version: 1, updatedBy: 'test-admin' });

    const second = await put({ ...policy, disableExplicitAppPrompt: false, version: 1 });
    expect(second.status).to.equal(200);
    expect(second.headers.get('etag')).to.equal('"2"');

    // An admin whose page still shows version 1.
    const stale = await put({ ...policy, appPrefixAllowList: 'com.fabrikam.' }, { 'if-match': '"1"' });
    expect(stale.status).to.equal(409);
    expect(stale.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const problem = (await stale.json()) as { detail: string; currentVersion: number };
    expect(problem.currentVersion).to.equal(2);
    expect(problem.detail).to.include('changed since you read it');

    const now = await get();
    expect(now.version).to.equal(2);
    expect(now.policy).to.include({ appPrefixAllowList: 'com.apple.', disableExplicitAppPrompt: false });
    const entries = await auditEntries();
    expect(entries.map((e) => [e.before.version, e.after.version])).to.deep.equal([
      [0, 1],
      [1, 2],
    ]);
    expect(entries[1].before).to.include({ appPrefixAllowList: 'com.apple.,com.contoso.' });
  });

  it('lets exactly one of ten simultaneous saves of the same version through', async () => {
    const { version, policy } = await get();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => `com.n${i}.`).map((prefix) =>
        put({ ...policy, appPrefixAllowList: prefix, version }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).to.have.length(1);
    expect(statuses.filter((s) => s === 409)).to.have.length(9);
    const winner = (await answers.find((a) => a.status === 200)?.json()) as PolicyJson;
    const now = await get();
    expect(now.version).to.equal(version + 1);
    expect(now.policy.appPrefixAllowList).to.equal(winner.appPrefixAllowList);
    expect(await auditEntries()).to.have.length(version + 1);
  });

  it('takes over the claim of a save whose process died, but not one still in flight', async () => {
    const { version, policy } = await get();
    const claims = gw.gateway
      .context('jit-registration')
      .mongo.collection<{ _id: string; at: Date }>('jit_sso_policy_claims');
    await claims.insertOne({ _id: `default@${version + 1}`, at: new Date() });
    expect((await put({ ...policy, version })).status).to.equal(409);
    await claims.updateOne({ _id: `default@${version + 1}` }, { $set: { at: new Date(Date.now() - 120_000) } });
    const taken = await put({ ...policy, appPrefixAllowList: 'com.recovered.', version });
    expect(taken.status).to.equal(200);
    expect(await get()).to.include({ version: version + 1 });
  });

  it('keeps a validation error a 400 even with a stale version: input is checked before anything else', async () => {
    const { policy } = await get();
    const res = await put({ ...policy, urls: ['http://login.microsoftonline.com'], version: 0 });
    expect(res.status).to.equal(400);
    const problem = (await res.json()) as { issues: { path: string; message: string }[] };
    expect(problem.issues).to.deep.include({ path: 'urls.0', message: 'must be an https URL' });
  });

  it('guards reads and writes with policies:read and policies:write', async () => {
    const { version, policy } = await get();
    expect((await gw.fetch('/api/jit/sso-policy')).status).to.equal(401);
    expect((await gw.fetch('/api/jit/sso-policy', { headers: adminHeaders('reader') })).status).to.equal(403);
    const refused = await put({ ...policy, version }, { authorization: 'Bearer reader' });
    expect(refused.status).to.equal(403);
    expect((await get()).version).to.equal(version);
  });
});
