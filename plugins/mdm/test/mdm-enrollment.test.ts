import { expect } from 'chai';
import { definePlugin, enrollmentPayloadsPoint, VetoError } from 'enrollment-gateway/sdk';
import { formatViolations, validateProfile } from '../../../test/support/apple-schema.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { verifyAttachedSignature } from '../src/pki/index.js';
import { parseDevicePlist } from '../src/protocol/index.js';

async function mint(
  gw: TestGateway,
  userId = 'user-1',
): Promise<{ id: string; profileUrl: string; expiresAt: string }> {
  const res = await gw.fetch('/api/mdm/enrollments', {
    method: 'POST',
    headers: adminHeaders(),
    body: JSON.stringify({ userId }),
  });
  expect(res.status, await res.clone().text()).to.equal(201);
  return (await res.json()) as { id: string; profileUrl: string; expiresAt: string };
}

const localPath = (profileUrl: string) => new URL(profileUrl).pathname;

describe('mdm: enrollment sessions and the signed management profile', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      label: 'mdmenroll',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
  });
  after(() => gw?.stop());

  it("serves a CMS-signed profile whose payloads conform to Apple's schemas", async () => {
    const session = await mint(gw);
    expect(session.profileUrl).to.match(/^https:\/\/gateway\.test\/mdm\/enroll\/[A-Za-z0-9_-]{43}$/);
    const res = await gw.fetch(localPath(session.profileUrl));
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/x-apple-aspen-config');
    expect(res.headers.get('content-disposition')).to.match(/filename="enrollment\.mobileconfig"/);
    const signed = Buffer.from(await res.arrayBuffer());
    const { content } = verifyAttachedSignature(signed);
    const profile = parseDevicePlist(content) as Record<string, unknown>;
    expect(formatViolations(validateProfile(profile))).to.equal('');
    const payloads = profile.PayloadContent as Record<string, unknown>[];
    const types = payloads.map((p) => p.PayloadType);
    expect(types).to.include.members(['com.apple.security.root', 'com.apple.security.scep', 'com.apple.mdm']);
    const mdmPayload = payloads.find((p) => p.PayloadType === 'com.apple.mdm')!;
    const scep = payloads.find((p) => p.PayloadType === 'com.apple.security.scep')!;
    expect(mdmPayload).to.include({
      ServerURL: 'https://gateway.test/mdm/connect',
      CheckInURL: 'https://gateway.test/mdm/checkin',
      Topic: TEST_TOPIC,
      SignMessage: true,
      CheckOutWhenRemoved: true,
      IdentityCertificateUUID: scep.PayloadUUID,
    });
    expect((mdmPayload.AccessRights as number) & 8, 'no erase right on a personal device').to.equal(0);
    const scepContent = scep.PayloadContent as Record<string, unknown>;
    expect(scepContent).to.include({ URL: 'https://gateway.test/scep', Keysize: 2048 });
    expect(scepContent.Challenge).to.be.a('string').with.length.greaterThan(20);
    // The signer chains to the CA carried in the root payload.
    const root = payloads.find((p) => p.PayloadType === 'com.apple.security.root')!;
    const caPem = `-----BEGIN CERTIFICATE-----\n${(root.PayloadContent as Buffer).toString('base64')}\n-----END CERTIFICATE-----\n`;
    expect(() => verifyAttachedSignature(signed, { caCertPem: caPem })).not.to.throw();
  });

  it('serves each profile once: a second download is 410, an unknown link 404', async () => {
    const session = await mint(gw);
    expect((await gw.fetch(localPath(session.profileUrl))).status).to.equal(200);
    const again = await gw.fetch(localPath(session.profileUrl));
    expect(again.status).to.equal(410);
    expect(((await again.json()) as { detail: string }).detail).to.match(/already used/);
    expect((await gw.fetch('/mdm/enroll/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status).to.equal(404);
    expect((await gw.fetch('/mdm/enroll/bad')).status).to.equal(404);
  });

  it('serves a link once even to parallel downloads, and stores nothing for unknown links', async () => {
    const session = await mint(gw);
    const statuses = await Promise.all(
      Array.from({ length: 8 }, () => gw.fetch(localPath(session.profileUrl)).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).to.have.length(1);
    expect(statuses.filter((s) => s === 410)).to.have.length(7);
    const claims = gw.gateway.context('mdm').mongo.collection('mdm_claims');
    const before = await claims.countDocuments();
    await gw.fetch('/mdm/enroll/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB');
    expect(await claims.countDocuments()).to.equal(before);
  });

  it('refuses an expired session', async () => {
    const session = await mint(gw);
    const models = gw.gateway.context('mdm').mongo.model('MdmEnrollment');
    await models.updateOne({ _id: session.id }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await gw.fetch(localPath(session.profileUrl))).status).to.equal(410);
  });

  it('guards the admin API: 401 without credentials, 403 without the scope, problem+json validation', async () => {
    const anonymous = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"userId":"x"}',
    });
    expect(anonymous.status).to.equal(401);
    const reader = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders('reader'),
      body: '{"userId":"x"}',
    });
    expect(reader.status).to.equal(403);
    const invalid = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: '{"userId":""}',
    });
    expect(invalid.status).to.equal(400);
    expect(invalid.headers.get('content-type')).to.match(/problem\+json/);
    expect((await gw.fetch('/api/mdm/devices', { headers: adminHeaders('reader') })).status).to.equal(200);
  });

  it('audit-logs minted enrollment links', async () => {
    const session = await mint(gw, 'audited-user');
    const entry = await gw.gateway.context('mdm').mongo.collection('audit_log').findOne({ 'target.id': session.id });
    expect(entry).to.include({ action: 'mdm.enrollment.create' });
    expect(entry?.actor).to.deep.equal({ id: 'test-admin', kind: 'bearer', displayName: 'Test Admin' });
  });
});

describe('mdm: setup checks', () => {
  it('serves no profile while the push certificate is missing (409 setup incomplete)', async () => {
    const gw = await startTestGateway({
      label: 'mdmsetup',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: undefined }).plugin],
    });
    try {
      const res = await gw.fetch('/api/mdm/enrollments', {
        method: 'POST',
        headers: adminHeaders(),
        body: '{"userId":"u"}',
      });
      expect(res.status).to.equal(409);
      expect(((await res.json()) as { detail: string }).detail).to.match(/push certificate/);
    } finally {
      await gw.stop();
    }
  });
});

describe('mdm: the enrollment payload extension point', () => {
  const contributor = (mode: 'add' | 'veto' | 'throw') =>
    definePlugin({
      name: 'payload-contributor',
      version: '1.0.0',
      coreApi: '^2.0.0',
      dependsOn: ['mdm'],
      register(api) {
        api.contribute(enrollmentPayloadsPoint, () => ({
          async payloads(request) {
            if (mode === 'veto')
              throw new VetoError('payload-contributor', 'Update iOS to 17.5 or later before enrolling.');
            if (mode === 'throw') throw new Error('database on fire');
            return [
              {
                PayloadType: 'com.apple.webClip.managed',
                PayloadIdentifier: `com.example.webclip.${request.enrollmentId}`,
                PayloadDisplayName: 'Company Portal',
                URL: 'https://gateway.test/',
                Label: 'Company Portal',
                IsRemovable: true,
                FullScreen: false,
              },
            ];
          },
        }));
      },
    });

  const start = (mode: 'add' | 'veto' | 'throw') =>
    startTestGateway({
      label: `mdmext${mode}`,
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin, contributor(mode)],
    });

  it('adds contributed payloads to the signed profile, conforming to the schema', async () => {
    const gw = await start('add');
    try {
      const session = await mint(gw);
      const { content } = verifyAttachedSignature(
        Buffer.from(await (await gw.fetch(localPath(session.profileUrl))).arrayBuffer()),
      );
      const profile = parseDevicePlist(content) as { PayloadContent: Record<string, unknown>[] };
      const clip = profile.PayloadContent.find((p) => p.PayloadType === 'com.apple.webClip.managed');
      expect(clip).to.include({ Label: 'Company Portal', URL: 'https://gateway.test/' });
      expect(formatViolations(validateProfile(profile))).to.equal('');
      const pki = await gw.gateway.context('mdm').mongo.collection('mdm_pki').find().toArray();
      expect(pki).to.have.length(2);
      expect(JSON.stringify(pki), 'private keys are sealed at rest').not.to.include('PRIVATE KEY');
    } finally {
      await gw.stop();
    }
  });

  it('turns a veto into 403 with the message the user sees, and fails closed when a contributor breaks', async () => {
    for (const [mode, status, pattern] of [
      ['veto', 403, /Update iOS to 17\.5 or later/],
      ['throw', 503, /payload-contributor plugin could not prepare the profile/],
    ] as const) {
      const gw = await start(mode);
      try {
        const res = await gw.fetch('/api/mdm/enrollments', {
          method: 'POST',
          headers: adminHeaders(),
          body: '{"userId":"u"}',
        });
        expect(res.status).to.equal(status);
        expect(((await res.json()) as { detail: string }).detail).to.match(pattern);
        expect(await gw.gateway.context('mdm').mongo.collection('mdm_enrollments').countDocuments()).to.equal(0);
      } finally {
        await gw.stop();
      }
    }
  });
});
