import { expect } from 'chai';
import { definePlugin, enrollmentPayloadsPoint, VetoError } from 'enrollment-gateway/sdk';
import {
  formatViolations,
  validateCheckin,
  validateOther,
  validateProfile,
} from '../../../test/support/apple-schema.js';
import { parseBearerChallenge } from '../../../test/support/device-simulator-adde.js';
import { eventually } from '../../../test/support/eventually.js';
import { PORTAL_URL, type PortalHarness } from '../../../test/support/portal-harness.js';
import { accountDevice, startAccountHarness } from './support.js';

const BYOD_URL = `${PORTAL_URL}/account-enrollment/byod`;

/** Vetoes the enrollment of one user, as a compliance plugin would, with a message for the user. */
const vetoed = { userId: '' };
const vetoPlugin = definePlugin({
  name: 'test-veto',
  version: '1.0.0',
  coreApi: '^2.0.0',
  dependsOn: ['mdm'],
  register(api) {
    api.contribute(enrollmentPayloadsPoint, () => ({
      async payloads(request) {
        if (request.userId === vetoed.userId) throw new VetoError('test-veto', 'Update this device first.');
        return [];
      },
    }));
  },
});

describe('account-enrollment: discovery, the Bearer challenge, web sign-in and User Enrollment', function () {
  this.timeout(120_000);
  let portal: PortalHarness;
  let ada: Awaited<ReturnType<typeof startAccountHarness>>['ada'];

  let leo: typeof ada;

  before(async () => {
    ({ portal, ada, leo } = await startAccountHarness('adde', { extraPlugins: [vetoPlugin] }));
  });
  after(async () => {
    await portal?.stop();
  });

  const collection = (name: string) => portal.gw.gateway.context('mdm').mongo.collection(name);
  const counts = async () => ({
    tokens: await collection('account_enrollment_tokens').countDocuments(),
    redemptions: await collection('account_enrollment_redemptions').countDocuments(),
    sessions: await collection('mdm_enrollments').countDocuments(),
    devices: await collection('mdm_devices').countDocuments(),
  });

  it('answers service discovery with both servers, as JSON, cacheable', async () => {
    const res = await portal.gw.fetch('/.well-known/com.apple.remotemanagement?user-identifier=ada%40Contoso.test');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    expect(res.headers.get('cache-control')).to.equal('public, max-age=3600');
    expect(await res.json()).to.deep.equal({
      Servers: [
        { Version: 'mdm-byod', BaseURL: `${PORTAL_URL}/account-enrollment/byod` },
        { Version: 'mdm-adde', BaseURL: `${PORTAL_URL}/account-enrollment/adde` },
      ],
    });
  });

  it('refuses discovery for a domain the organisation does not own (404) and a malformed account (400)', async () => {
    const other = await portal.gw.fetch('/.well-known/com.apple.remotemanagement?user-identifier=eve%40evil.test');
    expect(other.status).to.equal(404);
    expect(other.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const bad = await portal.gw.fetch('/.well-known/com.apple.remotemanagement?user-identifier=no-at-sign');
    expect(bad.status).to.equal(400);
  });

  it('challenges a device without a token with 401 apple-as-web, and stores nothing', async () => {
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn });
    const before = await counts();
    const res = await device.postMachineInfo(BYOD_URL);
    expect(res.status).to.equal(401);
    const challenge = parseBearerChallenge(String(res.headers['www-authenticate']));
    expect(challenge?.method).to.equal('apple-as-web');
    expect(challenge?.url).to.match(/^https:\/\/gateway\.test\/account-enrollment\/authenticate\?challenge=/);
    expect(await counts()).to.deep.equal(before);
  });

  it('refuses machine info that does not parse with 400 (never 401), and stores nothing', async () => {
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn });
    const before = await counts();
    for (const body of [Buffer.from('not cms'), Buffer.alloc(0), Buffer.from([0x30, 0x03, 0x06, 0x01, 0x00])]) {
      const res = await device.postMachineInfo(BYOD_URL, undefined, body);
      expect(res.status, body.toString('hex')).to.equal(400);
      expect(res.headers['www-authenticate']).to.equal(undefined);
    }
    expect(await counts()).to.deep.equal(before);
  });

  it('enrolls a User Enrollment device end to end, known by its EnrollmentID', async () => {
    portal.standin.autoLogin = ada.oid;
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn });
    await device.enroll();
    const payload = device.device.enrollment?.plist.PayloadContent as Record<string, unknown>[] | undefined;
    expect(payload, 'profile installed').to.not.equal(undefined);
    const mdmPayload = payload?.find((p) => p.PayloadType === 'com.apple.mdm');
    expect(mdmPayload?.AssignedManagedAppleID).to.equal('ada@contoso.test');
    expect(mdmPayload?.EnrollmentMode).to.equal('BYOD');
    const ue = device.device.deviceKeys as { EnrollmentID: string };
    const stored = await collection('mdm_devices').findOne({ udid: ue.EnrollmentID });
    expect(stored?.userEnrollment).to.equal(true);
    expect(stored?.serialNumber).to.equal(undefined);
    // Commands reach it (web clip, JIT registration), answered in reports that carry EnrollmentID and the token.
    const answered = await eventually(async () => {
      const got = await device.device.poll();
      expect(got.length).to.be.greaterThan(0);
      return got;
    });
    expect(answered.every((a) => a.report.EnrollmentID === ue.EnrollmentID && a.report.UDID === undefined)).to.equal(
      true,
    );
    const sessions = await collection('mdm_enrollments').find({ userId: ada.oid, origin: 'account-driven' }).toArray();
    expect(sessions).to.have.length(1);
    expect(sessions[0].accountDriven).to.deep.equal({ mode: 'BYOD', managedAppleId: 'ada@contoso.test' });
  });

  it('enrolls through the mdm-adde server as account-driven Device Enrollment, known by its UDID', async () => {
    portal.standin.autoLogin = ada.oid;
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn, version: 'mdm-adde' });
    await device.enroll();
    const payload = device.device.enrollment?.plist.PayloadContent as Record<string, unknown>[] | undefined;
    const mdmPayload = payload?.find((p) => p.PayloadType === 'com.apple.mdm');
    expect(mdmPayload).to.deep.include({ AssignedManagedAppleID: 'ada@contoso.test', EnrollmentMode: 'ADDE' });
    const stored = await collection('mdm_devices').findOne({ udid: device.device.info.udid });
    expect(stored?.userEnrollment).to.equal(false);
    expect(stored?.serialNumber).to.equal(device.device.info.serialNumber);
  });

  it("conforms to Apple's schemas: machine info, the served profile and the check-ins, as User Enrollment", async () => {
    portal.standin.autoLogin = ada.oid;
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn, osVersion: '18.1' });
    await device.enroll();
    const ctx = { os: 'iOS' as const, osVersion: '18.1', enrollment: 'user' as const };
    expect(formatViolations(validateOther('machineinfo', device.machineInfoDict(), ctx))).to.equal('');
    expect(formatViolations(validateProfile(device.device.enrollment?.plist, ctx))).to.equal('');
    const checkins = device.device.exchanges.filter((e) => e.phase === 'checkin' && e.request);
    expect(checkins.map((e) => e.request?.MessageType)).to.deep.equal(['Authenticate', 'TokenUpdate']);
    for (const { request } of checkins) {
      const type = String(request?.MessageType);
      const dict = Object.fromEntries(Object.entries(request ?? {}).filter(([, v]) => v !== undefined));
      expect(formatViolations(validateCheckin(type, dict, ctx)), type).to.equal('');
    }
  });

  it('refuses a User Enrollment identity that names itself by UDID (403), and binds nothing', async () => {
    portal.standin.autoLogin = ada.oid;
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn });
    const first = await device.postMachineInfo(BYOD_URL);
    const token = await device.signIn(parseBearerChallenge(String(first.headers['www-authenticate']))?.url ?? '');
    const profile = await device.postMachineInfo(BYOD_URL, token);
    const installed = device.device.installProfileFile(profile.body);
    await device.device.obtainIdentity();
    const before = await counts();
    const udid = device.device.info.udid;
    const res = await device.device.sendCheckin({
      MessageType: 'Authenticate',
      UDID: udid,
      Topic: installed.mdm.topic,
    });
    expect(res.status).to.equal(403);
    expect(await collection('mdm_devices').findOne({ udid })).to.equal(null);
    expect(await counts()).to.deep.equal(before);
  });

  it('refuses a replayed token: a new 401, no second session', async () => {
    portal.standin.autoLogin = ada.oid;
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn });
    const first = await device.postMachineInfo(BYOD_URL);
    const token = await device.signIn(parseBearerChallenge(String(first.headers['www-authenticate']))?.url ?? '');
    expect((await device.postMachineInfo(BYOD_URL, token)).status).to.equal(200);
    const before = await counts();
    const replay = await device.postMachineInfo(BYOD_URL, token);
    expect(replay.status).to.equal(401);
    expect(parseBearerChallenge(String(replay.headers['www-authenticate']))?.method).to.equal('apple-as-web');
    expect(await counts()).to.deep.equal(before);
  });

  it('refuses forged, expired and other-device tokens with a new 401, storing nothing', async () => {
    portal.standin.autoLogin = ada.oid;
    const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn });
    const first = await device.postMachineInfo(BYOD_URL);
    const token = await device.signIn(parseBearerChallenge(String(first.headers['www-authenticate']))?.url ?? '');
    const before = await counts();
    const forged = await device.postMachineInfo(BYOD_URL, 'A'.repeat(43));
    expect(forged.status).to.equal(401);
    // Another device (other machine info) cannot use it, nor can the same device for the other mode.
    const thief = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn, productName: 'iPad14,1' });
    expect((await thief.postMachineInfo(BYOD_URL, token)).status).to.equal(401);
    expect((await device.postMachineInfo(`${PORTAL_URL}/account-enrollment/adde`, token)).status).to.equal(401);
    expect(await counts()).to.deep.equal(before);
    // Expired: the token's lifetime is over (moved into the past rather than waiting minutes).
    await collection('account_enrollment_tokens').updateMany({}, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await device.postMachineInfo(BYOD_URL, token)).status).to.equal(401);
    expect(await counts()).to.deep.equal(before);
  });

  it('hands no token to another account, a forged challenge or a user of the web-based profile', async () => {
    const before = await counts();
    // Bob is signed in, but Ada's account was typed in Settings.
    const bob = await portal.signIn(portal.accounts.staff);
    const device = await accountDevice(portal, bob, { userIdentifier: ada.upn });
    const first = await device.postMachineInfo(BYOD_URL);
    const url = parseBearerChallenge(String(first.headers['www-authenticate']))?.url ?? '';
    const other = await accountDevice(portal, bob, { userIdentifier: ada.upn });
    await expectPage(() => other.signIn(url), 'page:403:other-account');
    // Bob typed his own account, but his profile is web-based: the portal is his front door.
    const own = await accountDevice(portal, bob, { userIdentifier: portal.accounts.staff.upn });
    await expectPage(() => own.signIn(url), 'page:403:other-front-door');
    // A challenge whose signature does not match.
    const forged = url.replace(/challenge=([^.]+)\.(.+)$/, (_m, p) => `challenge=${p}.${'A'.repeat(43)}`);
    await expectPage(() => own.signIn(forged), 'page:400:challenge-refused');
    expect(await counts()).to.deep.equal(before);
  });

  it('applies the portal checks before any token: OS version, device limit, vetoes', async () => {
    // iOS 14 cannot do account-driven enrollment.
    portal.standin.autoLogin = ada.oid;
    const old = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn, osVersion: '14.8' });
    const before = await counts();
    const oldChallenge = parseBearerChallenge(
      String((await old.postMachineInfo(BYOD_URL)).headers['www-authenticate']),
    );
    await expectPage(() => old.signIn(oldChallenge?.url ?? ''), 'page:403:unsupported-platform');
    // Account-driven Device Enrollment needs iOS 17; an iOS 16 device may only use User Enrollment.
    const ios16 = { userIdentifier: ada.upn, osVersion: '16.7', version: 'mdm-adde' as const };
    const olderAdde = await accountDevice(portal, portal.client(), ios16);
    const adde = parseBearerChallenge(
      String((await olderAdde.postMachineInfo(`${PORTAL_URL}/account-enrollment/adde`)).headers['www-authenticate']),
    );
    await expectPage(() => olderAdde.signIn(adde?.url ?? ''), 'page:403:unsupported-platform');
    // A veto of another plugin (as compliance would): the user reads why, no session, no token.
    vetoed.userId = ada.oid;
    try {
      const device = await accountDevice(portal, portal.client(), { userIdentifier: ada.upn });
      const challenge = parseBearerChallenge(
        String((await device.postMachineInfo(BYOD_URL)).headers['www-authenticate']),
      );
      await expectPage(() => device.signIn(challenge?.url ?? ''), 'page:403:vetoed');
    } finally {
      vetoed.userId = '';
    }
    expect(await counts()).to.deep.equal(before);
    // Leo may have one device: the first enrolls, the second is refused at sign-in.
    portal.standin.autoLogin = leo.oid;
    await (await accountDevice(portal, portal.client(), { userIdentifier: leo.upn })).enroll();
    const second = await accountDevice(portal, portal.client(), { userIdentifier: leo.upn });
    const afterFirst = await counts();
    const url = parseBearerChallenge(String((await second.postMachineInfo(BYOD_URL)).headers['www-authenticate']))?.url;
    await expectPage(() => second.signIn(url ?? ''), 'page:403:device-limit');
    expect(await counts()).to.deep.equal(afterFirst);
  });

  it('sends an account-driven user who opens the portal to Settings', async () => {
    const client = await portal.signIn(ada);
    const page = await client.page('/');
    expect(/<body data-page="([^"]+)"/.exec(page.html)?.[1]).to.equal('account-driven');
    expect(page.html).to.contain('VPN &amp; Device Management');
  });
});

async function expectPage(run: () => Promise<unknown>, expected: string): Promise<void> {
  try {
    await run();
  } catch (error) {
    expect((error as Error).message).to.contain(expected);
    return;
  }
  throw new Error(`expected the sign-in to end on ${expected}`);
}
