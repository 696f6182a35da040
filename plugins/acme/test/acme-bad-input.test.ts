import { createHash, generateKeyPairSync } from 'node:crypto';
import { encode } from 'cbor-x';
import { expect } from 'chai';
import { enrollmentSessionsRef } from 'enrollment-gateway/sdk';
import { type PluginHarness, SimulatedDevice, startPluginHarness } from 'enrollment-gateway/testing';
import {
  AcmeClient,
  AcmeRefusedError,
  type AcmeResponse,
  type AttestationClaims,
  acmeCsr,
  TestAttestationRoot,
} from '../../../test/support/device-simulator-acme.js';
import { DeviceHttpError } from '../../../test/support/device-simulator-http.js';
import acme from '../index.js';

const PUBLIC_URL = 'https://gateway.test';

/** Resolves to the server's ACME error type ("badNonce"), or fails the test when the request was accepted. */
async function refusal(request: Promise<unknown>): Promise<{ type: string; status: number }> {
  const outcome = await request.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof AcmeRefusedError)) throw new Error(`expected an ACME refusal, got ${String(outcome)}`);
  return { type: outcome.type.replace('urn:ietf:params:acme:error:', ''), status: outcome.status };
}

describe('acme: bad input is refused with the right ACME error, and nothing is issued', function () {
  this.timeout(60_000);
  let h: PluginHarness;
  let root: TestAttestationRoot;
  let user = 0;

  before(async () => {
    root = await TestAttestationRoot.create();
    h = await startPluginHarness({
      plugins: [acme],
      config: { plugins: { acme: { attestationRootsPem: root.rootPem } } },
    });
  });
  after(() => h?.stop());

  /** A downloaded iOS 17 profile, an account, an order, and its challenge: everything up to attesting. */
  async function upToChallenge() {
    const mint = await h.adminFetch('/api/mdm/enrollments', {
      method: 'POST',
      body: JSON.stringify({ userId: `bad-${++user}` }),
    });
    const { id, profileUrl } = (await mint.json()) as { id: string; profileUrl: string };
    const phone = await SimulatedDevice.create({ baseUrl: h.url, publicUrl: PUBLIC_URL, osVersion: '17.5' });
    const settings = (await phone.downloadProfile(profileUrl)).acme;
    if (!settings) throw new Error('no ACME payload');
    const client = await AcmeClient.open(phone.http, settings.directoryUrl);
    await client.register();
    const order = await client.post(client.directory.newOrder, {
      identifiers: [{ type: 'permanent-identifier', value: settings.clientIdentifier }],
    });
    const authz = await client.post(String(((order.json?.authorizations ?? []) as string[])[0]), undefined);
    const challenge = ((authz.json?.challenges ?? []) as { url: string; token: string }[])[0];
    const key = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const claims: AttestationClaims = {
      serialNumber: phone.info.serialNumber,
      udid: phone.info.udid,
      osVersion: '17.5',
      freshness: createHash('sha256').update(challenge.token).digest(),
      publicKey: key.publicKey,
    };
    const attest = async (c: AttestationClaims = claims, by: TestAttestationRoot = root) =>
      client.post(challenge.url, {
        attObj: Buffer.from(encode({ fmt: 'apple', attStmt: { x5c: await by.attest(c) } })).toString('base64url'),
      });
    const finalize = (csrKey = key): Promise<AcmeResponse> => {
      const csr = acmeCsr([{ type: 'CN', value: 'x' }], csrKey);
      return client.post(String(order.json?.finalize), { csr: csr.toString('base64url') });
    };
    return { enrollmentId: id, phone, client, settings, order, claims, key, attest, finalize };
  }

  const device = () =>
    SimulatedDevice.create({ baseUrl: h.url, publicUrl: PUBLIC_URL, osVersion: '17.5', attestation: root });

  async function sessionState(enrollmentId: string) {
    return (await h.context('mdm').resolve(enrollmentSessionsRef).get(enrollmentId))?.state;
  }

  it('a replayed or unknown nonce: badNonce', async () => {
    const { client, order } = await upToChallenge();
    const url = String(order.headers.location);
    const nonce = await client.freshNonce();
    await client.post(url, undefined, { nonce });
    expect(await refusal(client.post(url, undefined, { nonce }))).to.deep.equal({ type: 'badNonce', status: 400 });
    expect((await refusal(client.post(url, undefined, { nonce: 'bm90LWEtbm9uY2U' }))).type).to.equal('badNonce');
  });

  it('alg "none" and a JWS signed with another key: badSignatureAlgorithm, unauthorized', async () => {
    const { client, order } = await upToChallenge();
    const url = String(order.headers.location);
    expect(await refusal(client.post(url, undefined, { alg: 'none' }))).to.deep.equal({
      type: 'badSignatureAlgorithm',
      status: 400,
    });
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(await refusal(client.post(url, undefined, { signWith: stranger }))).to.deep.equal({
      type: 'unauthorized',
      status: 403,
    });
  });

  it('an attestation chaining to another root: badAttestationStatement, nothing issued', async () => {
    const { attest, claims, finalize, enrollmentId } = await upToChallenge();
    const other = await TestAttestationRoot.create('Another Root');
    expect((await refusal(attest(claims, other))).type).to.equal('badAttestationStatement');
    expect((await refusal(finalize())).type).to.equal('orderNotReady');
    expect(await sessionState(enrollmentId)).to.equal('downloaded');
  });

  it('a stale freshness code (the nonce of another challenge): badAttestationStatement', async () => {
    const { attest, claims } = await upToChallenge();
    const stale = { ...claims, freshness: createHash('sha256').update('another token').digest() };
    expect((await refusal(attest(stale))).type).to.equal('badAttestationStatement');
  });

  it('a CSR whose key is not the attested key: badCSR, nothing issued', async () => {
    const { attest, finalize, enrollmentId } = await upToChallenge();
    await attest();
    const other = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect((await refusal(finalize(other))).type).to.equal('badCSR');
    expect(await sessionState(enrollmentId)).to.equal('downloaded');
  });

  it('a reused order and a reused ClientIdentifier are refused', async () => {
    const { attest, finalize, phone, settings } = await upToChallenge();
    const second = await AcmeClient.open(phone.http, settings.directoryUrl);
    await second.register();
    const identifiers = [{ type: 'permanent-identifier', value: settings.clientIdentifier }];
    // One order per ClientIdentifier: another account cannot take over the open one.
    expect((await refusal(second.post(second.directory.newOrder, { identifiers }))).type).to.equal('unauthorized');
    await attest();
    await finalize();
    expect(await refusal(finalize())).to.deep.equal({ type: 'orderNotReady', status: 403 });
    // Once the enrollment has its identity, its ClientIdentifier is spent.
    expect((await refusal(second.post(second.directory.newOrder, { identifiers }))).type).to.equal(
      'rejectedIdentifier',
    );
    const guess = [{ type: 'permanent-identifier', value: 'guess' }];
    expect((await refusal(second.post(second.directory.newOrder, { identifiers: guess }))).type).to.equal(
      'rejectedIdentifier',
    );
  });

  it('an identity attested for one UDID cannot authenticate another', async () => {
    const other = await device();
    const fresh = await h.adminFetch('/api/mdm/enrollments', {
      method: 'POST',
      body: JSON.stringify({ userId: 'mismatch' }),
    });
    const enrollment = await other.downloadProfile(((await fresh.json()) as { profileUrl: string }).profileUrl);
    if (!enrollment.acme) throw new Error('no ACME payload');
    // The attestation names another device than the one that then authenticates.
    await other.obtainAcmeIdentity(enrollment.acme, { claims: (c) => ({ ...c, udid: 'ANOTHER-UDID' }) });
    const refused = await other.authenticate().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).to.be.instanceOf(DeviceHttpError);
    expect((refused as DeviceHttpError).status).to.equal(403);
  });

  it('a renewal attested by another device: badAttestationStatement', async () => {
    const phone = await device();
    const fresh = await h.adminFetch('/api/mdm/enrollments', {
      method: 'POST',
      body: JSON.stringify({ userId: 'renewer' }),
    });
    await phone.downloadProfile(((await fresh.json()) as { profileUrl: string }).profileUrl);
    await phone.enroll();
    const devices = await h.adminFetch(`/api/mdm/devices`);
    const list = (await devices.json()) as { items: { id: string; udid: string }[] };
    const deviceId = list.items.find((d) => d.udid === phone.udid)?.id;
    const renewal = await h.adminFetch(`/api/acme/devices/${deviceId}/renewal`, { method: 'POST', body: '{}' });
    const { payload } = (await renewal.json()) as { payload: Record<string, unknown> };
    const settings = {
      directoryUrl: String(payload.DirectoryURL),
      clientIdentifier: String(payload.ClientIdentifier),
      keyType: 'ECSECPrimeRandom',
      keySize: 384,
      hardwareBound: true,
      attest: true,
      subject: [{ type: 'CN', value: 'renewal' }],
      payloadUuid: String(payload.PayloadUUID),
    };
    const before = phone.identity.serialHex;
    const refused = await refusal(
      phone.obtainAcmeIdentity(settings, { claims: (c) => ({ ...c, serialNumber: 'F00' }) }),
    );
    expect(refused.type).to.equal('badAttestationStatement');
    expect(phone.identity.serialHex).to.equal(before);
    expect(await h.metrics()).to.match(/gateway_acme_refusals_total\{[^}]*type="badAttestationStatement"[^}]*\} [1-9]/);
  });
});
