import { expect } from 'chai';
import { deviceCommandsRef, deviceReadinessRef, type KeyVault, managedItemsPoint } from 'enrollment-gateway/sdk';
import {
  type EnrolledDevice,
  eventsDelivered,
  eventually,
  type PluginHarness,
  startPluginHarness,
} from 'enrollment-gateway/testing';
import { parse as parsePlist } from 'plist';
import { formatViolations, type SchemaContext, validateProfile } from '../../../test/support/apple-schema.js';
import { validateDeclaration } from '../../../test/support/apple-schema-declarative.js';
import { SimulatedDdm } from '../../../test/support/device-simulator-ddm.js';
import { MongoProfileUrlKeys } from '../src/storage/profile-keys.js';
import { ddmDeviceView, retireAndWait } from './support.js';

const IOS17: SchemaContext = { os: 'iOS', osVersion: '17.4', enrollment: 'device', channel: 'device' };
const SSO = 'jit-registration.sso-profile';
const WEB_CLIP = 'web-clip.profile';
const LEGACY = 'com.apple.configuration.legacy';

/** A stand-in vault whose sealed text names its master key: `current` seals, `known` (and current) open. */
const vaultOf = (current: string, known: readonly string[] = []): KeyVault => ({
  seal: (plaintext, context) => `${current}:${context}:${plaintext.toString('base64')}`,
  open(sealed, context) {
    const [key, ctx, body] = sealed.split(':');
    if (![current, ...known].includes(key) || ctx !== context) throw new Error(`cannot open under ${key}`);
    return Buffer.from(body, 'base64');
  },
  needsRotation: (sealed) => !sealed.startsWith(`${current}:`),
});

interface DeviceView {
  lastSync: { token: string } | null;
  declarations: { identifier: string; serverToken: string; deviceStatus: { valid: string; active: boolean } | null }[];
}

/**
 * Legacy profile declarations end to end: jit-registration's SSO profile and web-clip's Home Screen icon reach a
 * device that takes declarations as com.apple.configuration.legacy declarations, downloaded from their ProfileURL.
 */
describe('ddm: the profiles the gateway installs, as legacy declarations', function () {
  this.timeout(180_000);
  let h: PluginHarness;

  const view = (deviceId: string) => ddmDeviceView<DeviceView>(h, deviceId);
  const readiness = (deviceId: string) => h.context('jit-registration').resolve(deviceReadinessRef).get(deviceId);
  const requestTypes = (answered: { requestType: string }[]) => answered.map((a) => a.requestType);
  const profileUrl = (ddm: SimulatedDdm, identifier: string) => {
    const url = ddm.declarations.get(identifier)?.Payload.ProfileURL;
    expect(url, identifier).to.be.a('string');
    return String(url);
  };
  /** The path the device GETs, on the harness's real address. */
  const download = (url: string) => h.fetch(new URL(url).pathname);
  const enroll = async (userId: string, osVersion = '17.4') => {
    const enrolled: EnrolledDevice = await h.enrollDevice({ userId, osVersion, installPolls: 1 });
    return { ...enrolled, ddm: SimulatedDdm.attach(enrolled.device) };
  };
  /** Enrolls, syncs, and waits until jit-registration calls the device ready. */
  const enrollReady = async (userId: string) => {
    const enrolled = await enroll(userId);
    const first = await enrolled.device.poll();
    expect(await enrolled.device.poll()).to.deep.equal([]); // Authenticator finishes installing; status reports it
    await eventually(async () => expect((await readiness(enrolled.deviceId))?.state).to.equal('ready'));
    return { ...enrolled, first };
  };

  before(async () => {
    h = await startPluginHarness({
      label: 'ddmlegacy',
      plugins: [],
      enable: ['ddm', 'jit-registration', 'company-portal', 'web-clip', 'unenrollment'],
      config: { plugins: { 'jit-registration': { readinessAttempts: 6, readinessBackoffMs: 5_000 } } },
    });
  });
  after(() => h?.stop());

  it('a DDM device gets the SSO profile and the web clip as legacy declarations, installs them, and turns ready', async () => {
    const { device, deviceId, ddm, first } = await enrollReady('alice');
    expect(requestTypes(first)).to.include.members(['InstallApplication', 'DeclarativeManagement']);
    expect(requestTypes(first), 'nothing is installed twice').to.not.include('InstallProfile');
    for (const identifier of [SSO, WEB_CLIP]) {
      const declaration = ddm.declarations.get(identifier);
      expect(declaration?.Type).to.equal(LEGACY);
      expect(profileUrl(ddm, identifier)).to.match(/^https:\/\/gateway\.test\/ddm\/profiles\/[A-Za-z0-9_.-]+$/);
      expect(formatViolations(validateDeclaration(declaration, IOS17)), identifier).to.equal('');
      // What the URL serves is a profile Apple's schema accepts, as the device downloads it.
      const served = await download(profileUrl(ddm, identifier));
      expect(served.headers.get('content-type')).to.match(/^application\/x-apple-aspen-config/);
      const profile = parsePlist(Buffer.from(await served.arrayBuffer()).toString('utf8'));
      expect(formatViolations(validateProfile(profile, { os: 'iOS' })), identifier).to.equal('');
    }
    expect(ddm.legacy.downloads.map((d) => [d.identifier, d.status])).to.have.deep.members([
      [SSO, 200],
      [WEB_CLIP, 200],
    ]);
    // ProfileList, as an admin's inventory would ask, shows both next to the enrollment profile.
    await h.context('mdm').resolve(deviceCommandsRef).enqueue([deviceId], {
      requestType: 'ProfileList',
      payload: {},
      origin: 'test',
    });
    const [list] = await device.poll();
    const listed = (list?.report.ProfileList ?? []) as { PayloadContent: { PayloadType: string }[] }[];
    const types = listed.flatMap((p) => p.PayloadContent.map((c) => c.PayloadType));
    expect(types).to.include.members(['com.apple.extensiblesso', 'com.apple.webClip.managed']);
    // Both reported valid and active; jit's SSO step followed that status.
    const v = await view(deviceId);
    for (const identifier of [SSO, WEB_CLIP]) {
      expect(v.declarations.find((d) => d.identifier === identifier)?.deviceStatus).to.include({
        valid: 'valid',
        active: true,
      });
    }
    expect((await readiness(deviceId))?.steps.find((s) => s.name === 'install-sso-profile')).to.include({
      state: 'done',
      detail: 'installed by declaration',
    });
    // web-clip recorded its install from the declaration's status.
    const answers = h.context('web-clip').mongo.collection('web_clip_answers');
    await eventually(async () => expect(await answers.countDocuments({ deviceId, state: 'installed' })).to.equal(1));
    // Unenrollment is told only of the app: the profiles leave with the declarations.
    const items = await Promise.all(h.contributions(managedItemsPoint).map((c) => c.value.installedOn(deviceId)));
    expect(items.flat().map((i) => i.kind)).to.deep.equal(['application']);
  });

  it('a bad or foreign token is 404 (never 401) and changes nothing', async () => {
    const { device, deviceId, ddm } = await enroll('bob');
    await device.poll();
    const url = profileUrl(ddm, WEB_CLIP);
    const token = url.slice(url.lastIndexOf('/') + 1);
    const [claims, mac] = token.split('.');
    const before = await view(deviceId);
    const forged = Buffer.from(JSON.stringify([deviceId, 'another-enrollment', WEB_CLIP, 'x'.repeat(43)])).toString(
      'base64url',
    );
    const otherMac = profileUrl(ddm, SSO).split('.').at(-1);
    for (const bad of [
      `${claims}.${mac.slice(0, -2)}AA`, // tampered signature
      `${forged}.${mac}`, // other claims under this signature
      `${claims}.${otherMac}`, // another profile's signature
      'not-a-token',
      `${claims}.${'A'.repeat(2000)}`,
    ]) {
      const res = await h.fetch(`/ddm/profiles/${bad}`);
      expect(res.status, bad.slice(0, 40)).to.equal(404);
      expect(String(res.headers.get('content-type'))).to.not.match(/aspen-config/);
    }
    expect((await download(url)).status, 'the real one still works').to.equal(200);
    expect(await view(deviceId)).to.deep.equal(before);
    expect(await device.poll()).to.deep.equal([]);
  });

  it('a changed profile changes its token, and one push and one sync deliver it', async () => {
    const { device, deviceId, ddm } = await enrollReady('carol');
    const oldUrl = profileUrl(ddm, WEB_CLIP);
    const ssoToken = ddm.declarations.get(SSO)?.ServerToken;
    const pushesBefore = h.pushesTo(deviceId);
    const syncsBefore = ddm.itemSyncs;
    const downloadsBefore = ddm.legacy.downloads.length;

    const current = (await (await h.adminFetch('/api/web-clip/settings')).json()) as Record<string, unknown>;
    const {
      updatedAt: _a,
      updatedBy: _b,
      effectiveUrl: _c,
      ...body
    }: Record<string, unknown> = {
      ...current,
      label: 'Contoso Apps',
    };
    const saved = await h.adminFetch('/api/web-clip/settings', { method: 'PUT', body: JSON.stringify(body) });
    expect(saved.status, await saved.clone().text()).to.equal(200);

    await eventually(async () => expect(h.pushesTo(deviceId)).to.equal(pushesBefore + 1));
    expect(requestTypes(await device.poll())).to.deep.equal(['DeclarativeManagement']);
    expect(ddm.itemSyncs).to.equal(syncsBefore + 1);
    const newUrl = profileUrl(ddm, WEB_CLIP);
    expect(newUrl).to.not.equal(oldUrl);
    expect(ddm.declarations.get(SSO)?.ServerToken, 'the SSO profile did not change').to.equal(ssoToken);
    expect(ddm.legacy.downloads.slice(downloadsBefore).map((d) => [d.identifier, d.status])).to.deep.equal([
      [WEB_CLIP, 200],
    ]);
    const clip = [...device.state.profiles.values()].find(
      (p) => p.payloads[0]?.PayloadType === 'com.apple.webClip.managed',
    );
    expect(clip?.displayName).to.equal('Contoso Apps');
    expect((await download(oldUrl)).status, 'the old version is gone').to.equal(404);
    // Nothing else changed: the next poll is empty.
    expect(await device.poll()).to.deep.equal([]);

    // The SSO policy the same way: its save re-syncs, and only the SSO profile is fetched again.
    const policy = (await (await h.adminFetch('/api/jit/sso-policy')).json()) as Record<string, unknown>;
    const {
      updatedAt: _d,
      updatedBy: _e,
      ...policyBody
    }: Record<string, unknown> = {
      ...policy,
      browserSsoInteractionEnabled: policy.browserSsoInteractionEnabled !== true,
    };
    const put = await h.adminFetch('/api/jit/sso-policy', { method: 'PUT', body: JSON.stringify(policyBody) });
    expect(put.status, await put.clone().text()).to.equal(200);
    await eventually(async () => expect(h.pushesTo(deviceId)).to.equal(pushesBefore + 2));
    const clipDownloads = ddm.legacy.downloads.length;
    expect(requestTypes(await device.poll())).to.deep.equal(['DeclarativeManagement']);
    expect(ddm.itemSyncs).to.equal(syncsBefore + 2);
    expect(ddm.declarations.get(SSO)?.ServerToken).to.not.equal(ssoToken);
    expect(ddm.legacy.downloads.slice(clipDownloads).map((d) => [d.identifier, d.status])).to.deep.equal([[SSO, 200]]);
    const sso = [...device.state.profiles.values()].find(
      (p) => p.payloads[0]?.PayloadType === 'com.apple.extensiblesso',
    );
    const data = sso?.payloadContent[0]?.ExtensionData as { browser_sso_interaction_enabled?: number } | undefined;
    expect(data?.browser_sso_interaction_enabled).to.equal(policy.browserSsoInteractionEnabled === true ? 0 : 1);
  });

  it("a refused SSO declaration fails the install step with the device's reason, the device needs attention, and a refused web clip is recorded failed", async () => {
    const enrolled = await h.enrollDevice({ userId: 'fay', osVersion: '17.4', installPolls: 1 });
    const ddm = SimulatedDdm.attach(enrolled.device, { rejectTypes: [LEGACY] });
    expect(requestTypes(await enrolled.device.poll())).to.not.include('InstallProfile');
    expect(ddm.legacy.downloads, 'a refused declaration is not downloaded').to.deep.equal([]);
    const found = await eventually(async () => {
      const r = await readiness(enrolled.deviceId);
      expect(r?.state).to.equal('needs-attention');
      return r;
    });
    const step = found?.steps.find((s) => s.name === 'install-sso-profile');
    expect(step?.state).to.equal('failed');
    expect(step?.detail).to.match(/^device refused the declaration \(Error\.ConfigurationCannotBeApplied/);
    // The web clip, refused the same way, is recorded failed with the device's reason (not left queued).
    const answers = h
      .context('web-clip')
      .mongo.collection<{ deviceId: string; state: string; detail?: string }>('web_clip_answers');
    const answer = await eventually(async () => {
      const found = await answers.findOne({ deviceId: enrolled.deviceId });
      expect(found?.state).to.equal('failed');
      return found;
    });
    expect(answer?.detail).to.match(/^device refused the declaration \(Error\.ConfigurationCannotBeApplied/);
  });

  it('a device without DDM (iOS 14) keeps InstallProfile, and gets no legacy declaration', async () => {
    const { device } = await h.enrollDevice({ userId: 'dave', osVersion: '14.8' });
    const answered = await device.poll();
    const installs = answered.filter((a) => a.requestType === 'InstallProfile');
    expect(installs.map((a) => a.status)).to.deep.equal(['Acknowledged', 'Acknowledged']);
    expect(requestTypes(answered)).to.not.include('DeclarativeManagement');
    expect([...device.state.profiles.values()].filter((p) => p.installedBy === 'mdm')).to.have.length(2);
  });

  it('unenrollment removes the declarations and their profiles; the URLs stop working', async () => {
    const { device, deviceId, ddm } = await enrollReady('erin');
    const urls = [SSO, WEB_CLIP].map((id) => profileUrl(ddm, id));
    expect([...device.state.profiles.values()].filter((p) => p.installedBy === 'declaration')).to.have.length(2);
    await retireAndWait(h, device, deviceId);
    expect(ddm.declarations.size).to.equal(0);
    expect([...device.state.profiles.values()].filter((p) => p.installedBy === 'declaration')).to.deep.equal([]);
    const retired = (await (await h.adminFetch(`/api/unenrollment/devices/${deviceId}`)).json()) as {
      steps: { name: string }[];
    };
    // No RemoveProfile for what declarations installed: iOS removes them with management.
    expect(retired.steps.map((s) => s.name).filter((n) => n.startsWith('remove-profile:'))).to.deep.equal([]);
    await eventsDelivered(h.gateway.gateway);
    for (const url of urls) expect((await download(url)).status).to.equal(404);
  });

  it('the URL key is created once for every replica and survives a master key rotation unchanged', async () => {
    const db = h.context('ddm').mongo.useDb(`ddmkeys${Date.now()}`);
    const replicas = [1, 2, 3].map(() => new MongoProfileUrlKeys(db, vaultOf('m1')));
    const keys = await Promise.all(replicas.map((r) => r.current()));
    expect(keys[0]).to.have.length(32);
    for (const key of keys) expect(key.equals(keys[0]), 'one key for all').to.equal(true);
    const stored = () => db.collection<{ _id: string; sealed: string }>('ddm_keys').find({}).toArray();
    expect((await stored()).map((d) => d.sealed.split(':')[0])).to.deep.equal(['m1']);

    const rotated = await new MongoProfileUrlKeys(db, vaultOf('m2', ['m1'])).current();
    expect(rotated.equals(keys[0]), 'the same key, so the same URLs').to.equal(true);
    expect((await stored()).map((d) => d.sealed.split(':')[0])).to.deep.equal(['m2']);
    // Once the old master key is retired the key still opens.
    expect((await new MongoProfileUrlKeys(db, vaultOf('m2')).current()).equals(keys[0])).to.equal(true);
    await db.dropDatabase();
  });
});
