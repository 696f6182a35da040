/** The simulator end to end against a stub server built from the real pki/protocol helpers. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import { encryptEnvelopedData } from '../../plugins/mdm/src/pki/cms-enveloped-data.js';
import {
  createCertificateAuthority,
  issueSigningCertificate,
  loadCertificateAuthority,
  verifyDetachedSignature,
} from '../../plugins/mdm/src/pki/index.js';
import { buildCommand, buildPlist } from '../../plugins/mdm/src/protocol/index.js';
import { formatViolations, validateCheckin } from '../support/apple-schema.js';
import {
  DeviceHttpError,
  DeviceSimulatorError,
  RsaKeyPool,
  SimulatedDevice,
  simulateFleet,
} from '../support/device-simulator.js';
import {
  PUBLIC_URL,
  type StubServer,
  signedEnrollmentProfile,
  startStubServer,
  TOPIC,
  testPki,
} from './stub-mdm-server.js';

async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<DeviceSimulatorError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).to.be.instanceOf(DeviceSimulatorError);
    return error as DeviceSimulatorError;
  }
  throw new Error('expected a DeviceSimulatorError');
}

describe('device simulator over HTTP (stub server)', function () {
  this.timeout(30_000);
  const keyPool = new RsaKeyPool({ size: 4, reuse: true });
  let server: StubServer;
  let device: SimulatedDevice;

  before(async () => {
    testPki();
    await keyPool.warm();
  });
  beforeEach(async () => {
    server = await startStubServer();
    device = await SimulatedDevice.create({ baseUrl: server.url, publicUrl: PUBLIC_URL, keyPool });
  });
  afterEach(() => server.close());

  it('downloads and verifies the profile, enrolls by SCEP and checks in with signed, schema-valid messages', async () => {
    const profile = await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    expect(profile.scep?.subject).to.deep.equal([
      { type: 'O', value: 'Example' },
      { type: 'CN', value: 'enrollment-42' },
    ]);
    expect(profile.mdm).to.include({ topic: TOPIC, signMessage: true, checkOutWhenRemoved: true });
    expect(profile.profile.payloads.map((p) => p.PayloadType)).to.deep.equal([
      'com.apple.security.root',
      'com.apple.security.scep',
      'com.apple.mdm',
    ]);

    const timings = await device.enroll();
    expect(timings.totalMs).to.be.greaterThan(0);
    expect(device.enrolled).to.equal(true);
    // The SCEP request carried the profile's challenge; the issued certificate chains to the CA and holds our key.
    expect(server.scepRequests.map((r) => [r.messageType, r.challengePassword])).to.deep.equal([
      ['PKCSReq', 'one-time-challenge-1'],
    ]);
    const cert = new X509Certificate(device.identity.certPem);
    expect(cert.checkIssued(testPki().ca.certificate)).to.equal(true);
    expect(cert.checkPrivateKey(createPrivateKey(device.identity.keyPem))).to.equal(true);
    expect(cert.subject).to.equal('O=Example\nCN=enrollment-42');

    expect(server.checkins.map((c) => c.messageType)).to.deep.equal(['Authenticate', 'TokenUpdate']);
    for (const message of server.checkins) {
      expect(message.signer.fingerprintSha256).to.equal(device.identity.fingerprint);
      const plist = message.plist;
      const violations = validateCheckin(String(plist.MessageType), plist, { os: 'iOS', osVersion: '17.5' });
      expect(violations, formatViolations(violations)).to.deep.equal([]);
    }
    const [auth, token] = server.checkins;
    expect(auth).to.include({ udid: device.udid, topic: TOPIC, osVersion: '17.5', productName: 'iPhone15,4' });
    // Apple's schema marks DeviceName/Model/ModelName as macOS-only in Authenticate; iOS leaves them out.
    expect(auth.plist).to.not.have.any.keys('DeviceName', 'Model', 'ModelName');
    if (token.messageType !== 'TokenUpdate') throw new Error('expected TokenUpdate');
    expect(token.token).to.equal(device.pushToken.toString('hex'));
    expect(token.pushMagic).to.equal(device.pushMagic);
    expect(token.unlockToken?.equals(device.unlockToken)).to.equal(true);
    expect(device.exchanges.map((e) => `${e.phase} ${e.method} ${e.status}`)).to.deep.equal([
      'profile GET 200',
      'scep GET 200',
      'scep GET 200',
      'scep POST 200',
      'checkin PUT 200',
      'checkin PUT 200',
    ]);
    expect(device.exchanges.every((e) => e.url.startsWith(server.url))).to.equal(true);
  });

  it('polls: Idle, then one report per command until the server answers empty', async () => {
    await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    await device.enroll();
    server.queue.push(
      buildCommand('DeviceInformation', { Queries: ['UDID', 'OSVersion'] }),
      buildCommand('InstallApplication', { iTunesStoreID: 983156458, ManagementFlags: 1 }),
      buildCommand('SecurityInfo'),
    );
    device.script({ RequestType: 'SecurityInfo', respond: 'NotNow' });
    const answered = await device.poll();
    expect(answered.map((a) => [a.requestType, a.status])).to.deep.equal([
      ['DeviceInformation', 'Acknowledged'],
      ['InstallApplication', 'Acknowledged'],
      ['SecurityInfo', 'NotNow'],
    ]);
    expect(server.reports.map((r) => r.status)).to.deep.equal(['Idle', 'Acknowledged', 'Acknowledged', 'NotNow']);
    expect(server.reports[1].result).to.deep.equal({ QueryResponses: { UDID: device.udid, OSVersion: '17.5' } });
    expect(server.reports.every((r) => r.signer.fingerprintSha256 === device.identity.fingerprint)).to.equal(true);

    server.queue.push(buildCommand('ManagedApplicationList'));
    const [apps] = await device.poll();
    expect(apps.report.ManagedApplicationList).to.deep.include({
      'com.azure.authenticator': {
        Status: 'Managed',
        ManagementFlags: 1,
        HasConfiguration: false,
        HasFeedback: false,
        IsValidated: true,
        ExternalVersionIdentifier: (
          apps.report.ManagedApplicationList as Record<string, { ExternalVersionIdentifier: number }>
        )['com.azure.authenticator'].ExternalVersionIdentifier,
      },
    });
  });

  it('installs a profile whose EncryptedPayloadContent is addressed to the device identity', async () => {
    await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    await device.enroll();
    const payloads = [
      {
        PayloadType: 'com.apple.webClip.managed',
        PayloadVersion: 1,
        PayloadIdentifier: 'com.example.secret.clip',
        PayloadUUID: 'A0A0A0A0-0000-4000-8000-000000000001',
        URL: 'https://portal.example.com',
        Label: 'Portal',
      },
    ];
    const encrypted = encryptEnvelopedData(buildPlist(payloads), device.identity.certDer);
    const profile = buildPlist({
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.secret',
      PayloadUUID: 'A0A0A0A0-0000-4000-8000-000000000002',
      PayloadDisplayName: 'Secret',
      EncryptedPayloadContent: encrypted,
    });
    server.queue.push(buildCommand('InstallProfile', { Payload: profile }), buildCommand('ProfileList'));
    const [install, list] = await device.poll();
    expect(install.status).to.equal('Acknowledged');
    const items = list.report.ProfileList as {
      PayloadIdentifier: string;
      IsEncrypted: boolean;
      PayloadContent: { PayloadIdentifier: string }[];
    }[];
    const secret = items.find((p) => p.PayloadIdentifier === 'com.example.secret');
    expect(secret?.IsEncrypted).to.equal(true);
    expect(secret?.PayloadContent.map((p) => p.PayloadIdentifier)).to.deep.equal(['com.example.secret.clip']);
    expect(device.state.profiles.get('com.example.secret')?.payloadContent[0].URL).to.equal(
      'https://portal.example.com',
    );
  });

  it('Mdm-Signature is a detached CMS signature over the exact body that verifyDetachedSignature accepts', async () => {
    await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    await device.obtainIdentity();
    const body = buildPlist({ MessageType: 'Authenticate', UDID: device.udid, Topic: TOPIC });
    const signer = verifyDetachedSignature(device.signBody(body), body, { caCertPem: testPki().caPems.certPem });
    expect(signer.fingerprintSha256).to.equal(device.identity.fingerprint);
    expect(() =>
      verifyDetachedSignature(device.signBody(body), Buffer.concat([body, Buffer.from(' ')]), {
        caCertPem: testPki().caPems.certPem,
      }),
    ).to.throw(/messageDigest/);
  });

  it('surfaces check-in failures with status and body; a missing signature is refused by the server', async () => {
    await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    await device.obtainIdentity();
    server.nextCheckinResponse = { status: 403, body: 'enrollment revoked' };
    const error = (await rejection(device.authenticate())) as DeviceHttpError;
    expect(error).to.be.instanceOf(DeviceHttpError);
    expect([error.phase, error.status, error.bodyText]).to.deep.equal(['checkin', 403, 'enrollment revoked']);

    device.signatureOverride = () => undefined;
    const unsigned = (await rejection(device.authenticate())) as DeviceHttpError;
    expect(unsigned.status).to.equal(401);
    device.signatureOverride = undefined;
    await device.authenticate();
  });

  it('refuses a wrong SCEP challenge (CertRep FAILURE) without an identity', async () => {
    server.profile = signedEnrollmentProfile({
      scep: { url: `${PUBLIC_URL}/scep`, challenge: 'stale', subject: [['CN', 'x']] },
    });
    await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    expect((await rejection(device.enroll())).reason).to.equal('scep-failure');
    expect(device.hasIdentity).to.equal(false);
  });

  it('renews its identity with a RenewalReq signed by the current certificate', async () => {
    await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    await device.enroll();
    const before = device.identity;
    const renewed = await device.renewIdentity();
    expect(renewed.fingerprint).to.not.equal(before.fingerprint);
    const renewal = server.scepRequests[1];
    expect(renewal.messageType).to.equal('RenewalReq');
    expect(renewal.signer.fingerprintSha256).to.equal(before.fingerprint);
    await device.poll();
    expect(server.reports.at(-1)?.signer.fingerprintSha256).to.equal(renewed.fingerprint);
  });

  it('checks out explicitly, and on RemoveProfile of the enrollment profile', async () => {
    await device.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    await device.enroll();
    server.queue.push(buildCommand('RemoveProfile', { Identifier: 'com.example.gateway.enrollment' }));
    server.queue.push(buildCommand('SecurityInfo')); // never fetched: the device is no longer managed
    const answered = await device.poll();
    expect(answered.map((a) => a.status)).to.deep.equal(['Acknowledged']);
    expect(server.checkins.map((c) => c.messageType)).to.deep.equal(['Authenticate', 'TokenUpdate', 'CheckOut']);
    expect(device.enrolled).to.equal(false);
    expect(device.state.profiles.size).to.equal(0);

    const second = await SimulatedDevice.create({ baseUrl: server.url, publicUrl: PUBLIC_URL, keyPool });
    await second.downloadProfile(`${PUBLIC_URL}/enroll/profile`);
    await second.enroll();
    await second.checkOut();
    expect(server.checkins.at(-1)).to.include({ messageType: 'CheckOut', udid: second.udid });
  });

  it('refuses profiles that are unsigned, tampered, served with the wrong type, or signed outside their CA', async () => {
    const signed = signedEnrollmentProfile();
    const unsigned = await rejection(() => device.installProfileFile(Buffer.from('<?xml version="1.0"?><plist/>')));
    expect(unsigned.reason).to.equal('profile-unsigned');
    const tampered = Buffer.from(signed);
    const at = tampered.indexOf(Buffer.from('enrollment-42'));
    tampered[at] = 'E'.charCodeAt(0);
    expect((await rejection(() => device.installProfileFile(tampered))).reason).to.equal('profile-invalid');

    const otherCa = loadCertificateAuthority(
      createCertificateAuthority({ commonName: 'Stub Gateway CA', organization: 'Example', validityDays: 30 }),
    );
    const foreignSigner = issueSigningCertificate(otherCa, { commonName: 'Stub Profile Signing', validityDays: 30 });
    const foreign = signedEnrollmentProfile({}, foreignSigner);
    expect((await rejection(() => device.installProfileFile(foreign))).reason).to.equal('profile-untrusted');
    expect(device.enrollment).to.equal(undefined);

    server.profileContentType = 'text/html';
    expect((await rejection(device.downloadProfile(`${server.url}/enroll/profile`))).reason).to.equal(
      'profile-content-type',
    );
    expect(device.installProfileFile(signed).profile.identifier).to.equal('com.example.gateway.enrollment');
  });

  it('simulateFleet enrolls devices concurrently and reports latencies', async () => {
    const summary = await simulateFleet({
      count: 6,
      concurrency: 3,
      baseUrl: server.url,
      publicUrl: PUBLIC_URL,
      keyPool,
      checkOut: true,
      mint: async () => `${PUBLIC_URL}/enroll/profile`,
    });
    expect(summary).to.include({ count: 6, enrolled: 6, failed: 0, polled: 6, checkedOut: 6 });
    expect(summary.timings.total.count).to.equal(6);
    expect(summary.timings.scep.p50).to.be.greaterThan(0);
    const udids = new Set(server.checkins.filter((c) => c.messageType === 'Authenticate').map((c) => c.plist.UDID));
    expect(udids.size).to.equal(6);

    const failing = await simulateFleet({
      count: 2,
      baseUrl: server.url,
      publicUrl: PUBLIC_URL,
      keyPool,
      mint: async (index) => (index === 0 ? `${PUBLIC_URL}/nope` : `${PUBLIC_URL}/enroll/profile`),
    });
    expect(failing).to.include({ enrolled: 1, failed: 1 });
    expect(failing.errors[0]).to.include({ index: 0, stage: 'profile', status: 404 });
  });
});
