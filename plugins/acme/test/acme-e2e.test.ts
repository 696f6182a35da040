import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import { type PluginHarness, SimulatedDevice, startPluginHarness } from 'enrollment-gateway/testing';
import { formatViolations, validatePayload, validateProfile } from '../../../test/support/apple-schema.js';
import { AcmeClient, type AcmeSettings, TestAttestationRoot } from '../../../test/support/device-simulator-acme.js';
import { DeviceHttpError } from '../../../test/support/device-simulator-http.js';
import acme from '../index.js';

const PUBLIC_URL = 'https://gateway.test';

/** The device reads the renewal payload as it reads the enrollment profile's. */
const acmeSettings = (payload: Record<string, unknown>): AcmeSettings => ({
  directoryUrl: String(payload.DirectoryURL),
  clientIdentifier: String(payload.ClientIdentifier),
  keyType: String(payload.KeyType),
  keySize: Number(payload.KeySize),
  hardwareBound: payload.HardwareBound === true,
  attest: payload.Attest === true,
  subject: [{ type: 'CN', value: 'renewal' }],
  payloadUuid: String(payload.PayloadUUID),
});

describe('acme: enrollment with an attested, hardware-bound identity', function () {
  this.timeout(60_000);
  let h: PluginHarness;
  let root: TestAttestationRoot;

  before(async () => {
    root = await TestAttestationRoot.create();
    h = await startPluginHarness({
      plugins: [acme],
      config: { plugins: { acme: { attestationRootsPem: root.rootPem } } },
    });
  });
  after(() => h?.stop());

  async function mint(userId = 'alice'): Promise<string> {
    const res = await h.adminFetch('/api/mdm/enrollments', { method: 'POST', body: JSON.stringify({ userId }) });
    expect(res.status).to.equal(201);
    return ((await res.json()) as { profileUrl: string }).profileUrl;
  }

  const device = (osVersion: string) =>
    SimulatedDevice.create({ baseUrl: h.url, publicUrl: PUBLIC_URL, osVersion, attestation: root });

  it('an iOS 17 device gets ACME, enrolls with an attested P-384 identity, checks in, and is refused after revocation', async () => {
    const phone = await device('17.5');
    const enrollment = await phone.downloadProfile(await mint());
    expect(enrollment.scep).to.equal(undefined);
    expect(enrollment.acme).to.include({
      keyType: 'ECSECPrimeRandom',
      keySize: 384,
      hardwareBound: true,
      attest: true,
    });
    expect(enrollment.mdm.identityCertificateUuid).to.equal(enrollment.acme?.payloadUuid);

    await phone.enroll();
    expect(phone.identity.keyPair.privateKey.asymmetricKeyDetails?.namedCurve).to.equal('secp384r1');
    expect(phone.exchanges.some((e) => e.phase === 'acme' && e.url.includes('/acme/chall/'))).to.equal(true);
    expect(phone.exchanges.some((e) => e.phase === 'scep')).to.equal(false);
    await phone.poll();

    const items = await h.adminFetch(`/api/mdm/devices`);
    expect(JSON.stringify(await items.json())).to.include('Hardware-bound, attested (ACME)');
    const revoke = await h.adminFetch(`/api/mdm/certificates/${phone.identity.serialHex}/revoke`, {
      method: 'POST',
      body: JSON.stringify({ reason: 'test' }),
    });
    expect(revoke.status).to.equal(200);
    const refused = await phone.poll().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).to.be.instanceOf(DeviceHttpError);
    expect((refused as DeviceHttpError).status).to.equal(403);
  });

  it('an iOS 15 device still gets SCEP and enrolls', async () => {
    const phone = await device('15.7');
    const enrollment = await phone.downloadProfile(await mint('bob'));
    expect(enrollment.acme).to.equal(undefined);
    expect(enrollment.scep?.challenge).to.be.a('string');
    await phone.enroll();
    expect(phone.identity.keyPair.privateKey.asymmetricKeyType).to.equal('rsa');
    await phone.poll();
  });

  it('an enrollment profile set to "SCEP only" gives an iOS 17 device SCEP', async () => {
    const set = await h.adminFetch('/api/acme/profiles/scep-profile/identity', {
      method: 'PUT',
      body: JSON.stringify({ identity: 'scep-only' }),
    });
    expect(set.status).to.equal(200);
    const res = await h.adminFetch('/api/mdm/enrollments', {
      method: 'POST',
      body: JSON.stringify({ userId: 'carol', profileId: 'scep-profile' }),
    });
    if (res.status !== 201) return expect.fail(`minting with a profileId answered ${res.status}: ${await res.text()}`);
    const phone = await device('17.5');
    const enrollment = await phone.downloadProfile(((await res.json()) as { profileUrl: string }).profileUrl);
    expect(enrollment.acme).to.equal(undefined);
    await phone.enroll();
  });

  it('renews an ACME identity for the enrolled device; the new identity checks in', async () => {
    const phone = await device('16.4');
    await phone.downloadProfile(await mint('dave'));
    await phone.enroll();
    const first = phone.identity.serialHex;
    const id = await findDeviceId(phone.udid);
    const renewal = await h.adminFetch(`/api/acme/devices/${id}/renewal`, { method: 'POST', body: '{}' });
    expect(renewal.status).to.equal(201);
    const { payload } = (await renewal.json()) as { payload: Record<string, unknown> };
    const violations = validatePayload('com.apple.security.acme', payload);
    expect(violations, formatViolations(violations)).to.deep.equal([]);
    await phone.obtainAcmeIdentity(acmeSettings(payload));
    expect(phone.identity.serialHex).to.not.equal(first);
    await phone.poll();
  });

  it("the profile and its ACME payload validate against Apple's schema", async () => {
    const phone = await device('17.5');
    const enrollment = await phone.downloadProfile(await mint('erin'));
    const payload = enrollment.profile.payloadContent.find((p) => p.PayloadType === 'com.apple.security.acme');
    const violations = validatePayload('com.apple.security.acme', payload);
    expect(violations, formatViolations(violations)).to.deep.equal([]);
    const all = validateProfile(enrollment.plist);
    expect(all, formatViolations(all)).to.deep.equal([]);
  });

  it('speaks RFC 8555 shapes: directory, nonces, order, authorization, and problem documents with a fresh nonce', async () => {
    const phone = await device('17.5');
    const settings = (await phone.downloadProfile(await mint('frank'))).acme;
    if (!settings) throw new Error('no ACME payload');
    const client = await AcmeClient.open(phone.http, settings.directoryUrl);
    expect(client.directory).to.include.all.keys('newNonce', 'newAccount', 'newOrder', 'revokeCert');
    const nonce = await h.fetch('/acme/new-nonce');
    expect(nonce.status).to.equal(204);
    expect(nonce.headers.get('replay-nonce')).to.match(/^[A-Za-z0-9_-]+$/);
    expect(nonce.headers.get('cache-control')).to.equal('no-store');
    await client.register();
    const order = await client.post(client.directory.newOrder, {
      identifiers: [{ type: 'permanent-identifier', value: settings.clientIdentifier }],
    });
    expect(order.status).to.equal(201);
    expect(order.json)
      .to.include({ status: 'pending' })
      .and.include.all.keys('expires', 'identifiers', 'authorizations', 'finalize');
    const authz = await client.post(String(((order.json?.authorizations ?? []) as string[])[0]), undefined);
    expect(authz.json).to.include({ status: 'pending' }).and.include.all.keys('identifier', 'challenges', 'expires');
    const refused = await h.fetch('/acme/new-order', {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json' },
      body: '{"protected":"e30","payload":"","signature":""}',
    });
    expect(refused.status).to.equal(400);
    expect(refused.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect(refused.headers.get('replay-nonce')).to.match(/^[A-Za-z0-9_-]+$/);
    expect(((await refused.json()) as { type: string }).type).to.match(/^urn:ietf:params:acme:error:/);
  });

  async function findDeviceId(udid: string): Promise<string> {
    const found = await h.context('mdm').resolve(deviceDirectoryRef).getByUdid(udid);
    if (!found) throw new Error('device not recorded');
    return found.id;
  }
});
