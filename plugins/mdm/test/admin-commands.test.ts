import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { formatViolations, validateCommand, validateProfile } from '../../../test/support/apple-schema.js';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { defaultProfileIdentifier } from '../src/config.js';
import { createCertificateAuthority, signProfile } from '../src/pki/index.js';
import {
  buildCommand,
  buildPlist,
  checkInstallableProfile,
  enqueueIssues,
  MdmCommandError,
  type PlistDict,
  parseDevicePlist,
  REGISTERED_REQUEST_TYPES,
  type RegisteredRequestType,
} from '../src/protocol/index.js';

const PUBLIC_URL = 'https://gateway.test';
const WEBCLIP_PROFILE = readFileSync(new URL('./fixtures/webclip.mobileconfig', import.meta.url));

type Issue = { path: string; message: string };

/** For every RequestType the gateway registers: a body it refuses (with the fields it names) and one it queues. */
const BODIES: Record<RegisteredRequestType, { wrong: Record<string, unknown>; paths: string[]; right: object }> = {
  DeviceInformation: {
    wrong: { Queries: [], DeviceAttestationNonce: 'not base64!' },
    paths: ['payload.Queries', 'payload.DeviceAttestationNonce'],
    right: { Queries: ['OSVersion', 'DeviceName'], DeviceAttestationNonce: { base64: 'AAECAw==' } },
  },
  SecurityInfo: { wrong: { Extra: 1 }, paths: ['payload'], right: {} },
  ProfileList: { wrong: { ManagedOnly: 'yes' }, paths: ['payload.ManagedOnly'], right: { ManagedOnly: true } },
  InstallProfile: {
    wrong: { Payload: 12 },
    paths: ['payload.Payload'],
    right: { Payload: WEBCLIP_PROFILE.toString('base64') },
  },
  RemoveProfile: { wrong: { Identifier: '' }, paths: ['payload.Identifier'], right: { Identifier: 'com.example.x' } },
  InstallApplication: {
    wrong: { iTunesStoreID: 'nope', ManagementFlags: 2 },
    paths: ['payload.iTunesStoreID', 'payload.ManagementFlags'],
    right: { iTunesStoreID: 983156458, ManagementFlags: 1, Configuration: { Key: { base64: 'AQI=' } } },
  },
  ManagedApplicationList: {
    wrong: { Identifiers: 'com.example.app' },
    paths: ['payload.Identifiers'],
    right: { Identifiers: ['com.example.app'] },
  },
  InstalledApplicationList: {
    wrong: { ManagedAppsOnly: 1 },
    paths: ['payload.ManagedAppsOnly'],
    right: { ManagedAppsOnly: true },
  },
  RemoveApplication: { wrong: {}, paths: ['payload.Identifier'], right: { Identifier: 'com.example.app' } },
  DeviceLock: { wrong: { PIN: '12' }, paths: ['payload.PIN'], right: { Message: 'Found? Call 555 0100' } },
  DeclarativeManagement: { wrong: { Data: 12 }, paths: ['payload.Data'], right: { Data: { base64: 'e30=' } } },
};

function profileWith(change: (profile: PlistDict) => void): Buffer {
  const profile = parseDevicePlist(WEBCLIP_PROFILE);
  change(profile);
  return buildPlist(profile);
}

describe('mdm admin commands: every RequestType, data as base64, profiles checked, refusals per field', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  const push = recordingPush({ topic: TEST_TOPIC });
  let device: SimulatedDevice;
  let deviceId: string;

  const post = (path: string, body: unknown) =>
    gw.fetch(path, { method: 'POST', headers: adminHeaders(), body: JSON.stringify(body) });
  const enqueue = (requestType: string, payload?: unknown) =>
    post(`/api/mdm/devices/${deviceId}/commands`, { requestType, payload });
  const history = async (full = false) =>
    (
      (await (
        await gw.fetch(`/api/mdm/devices/${deviceId}/commands?limit=200&full=${full}`, { headers: adminHeaders() })
      ).json()) as {
        items: { commandUuid: string; requestType: string; state: string; payload?: Record<string, unknown> }[];
      }
    ).items;

  before(async () => {
    gw = await startTestGateway({
      label: 'mdmcmds',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, push.plugin],
    });
    const minted = await post('/api/mdm/enrollments', { userId: 'alice' });
    device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(((await minted.json()) as { profileUrl: string }).profileUrl);
    await device.enroll();
    const list = (await (await gw.fetch('/api/mdm/devices', { headers: adminHeaders() })).json()) as {
      items: { id: string; udid: string }[];
    };
    deviceId = list.items.find((d) => d.udid === device.udid)!.id;
  });
  after(() => gw?.stop());

  it('walks every registered RequestType: a wrong body is refused per field, a right one is queued and valid', async () => {
    expect(Object.keys(BODIES).sort()).to.deep.equal([...REGISTERED_REQUEST_TYPES].sort());
    for (const requestType of REGISTERED_REQUEST_TYPES) {
      const { wrong, paths, right } = BODIES[requestType];
      const refused = await enqueue(requestType, wrong);
      expect(refused.status, requestType).to.equal(400);
      const problem = (await refused.json()) as { issues: Issue[] };
      expect(problem.issues.map((i) => i.path).sort(), requestType).to.deep.equal([...paths].sort());
      const queued = await enqueue(requestType, right);
      expect(queued.status, `${requestType}: ${await queued.clone().text()}`).to.equal(202);
    }
    const unknown = await enqueue('EraseDevice', {});
    expect(unknown.status).to.equal(400);
    expect(((await unknown.json()) as { issues: Issue[] }).issues.map((i) => i.path)).to.deep.equal(['requestType']);
    // Nothing refused was queued: exactly one command per type, each valid for Apple's schema as the device got it.
    const answered = await device.poll();
    expect(answered.map((a) => a.requestType).sort()).to.deep.equal([...REGISTERED_REQUEST_TYPES].sort());
    for (const command of answered) {
      expect(formatViolations(validateCommand(command.requestType, command.command)), command.requestType).to.equal('');
    }
    expect(device.state.profiles.has('com.example.intranet')).to.equal(true);
  });

  it('the SDK path names the fields too: the builder issues survive enqueue (command-service)', () => {
    try {
      buildCommand('InstallApplication', { iTunesStoreID: 'x' });
      expect.fail('built');
    } catch (error) {
      expect(error).to.be.instanceOf(MdmCommandError);
      expect(enqueueIssues(error as MdmCommandError).map((i) => i.path)).to.include('payload.iTunesStoreID');
    }
  });

  it('takes a profile as a base64 string or {base64}; the history shows it back the same way', async () => {
    const base64 = WEBCLIP_PROFILE.toString('base64');
    const wrapped = GNU_WRAP(base64);
    const a = await post(`/api/mdm/devices/${deviceId}/commands`, {
      requestType: 'InstallProfile',
      payload: { Payload: wrapped },
      commandUuid: 'PROFILE-AS-STRING-1',
    });
    expect(a.status).to.equal(202);
    const b = await post(`/api/mdm/devices/${deviceId}/commands`, {
      requestType: 'InstallProfile',
      payload: { Payload: { base64 } },
      commandUuid: 'PROFILE-AS-OBJECT-1',
    });
    expect(b.status).to.equal(202);
    const items = await history();
    for (const uuid of ['PROFILE-AS-STRING-1', 'PROFILE-AS-OBJECT-1']) {
      const item = items.find((i) => i.commandUuid === uuid)!;
      expect(item.payload).to.deep.equal({ Payload: { base64 } });
      // What history shows is accepted again as it is.
      const again = await enqueue('InstallProfile', item.payload);
      expect(again.status).to.equal(202);
    }
  });

  it('refuses a broken profile before it is queued, naming the keys; Apple schema agrees', async () => {
    const missingUuid = profileWith((p) => {
      delete (p.PayloadContent as PlistDict[])[0].PayloadUUID;
    });
    const notConfiguration = profileWith((p) => {
      p.PayloadType = 'Something';
      p.PayloadVersion = 'one';
    });
    const cases: [Buffer, string[]][] = [
      [missingUuid, ['payload.Payload.PayloadContent.0.PayloadUUID']],
      [notConfiguration, ['payload.Payload.PayloadType', 'payload.Payload.PayloadVersion']],
      [Buffer.from('not a plist'), ['payload.Payload']],
      [Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), ['payload.Payload']],
    ];
    const before = (await history()).length;
    for (const [bytes, paths] of cases) {
      const res = await enqueue('InstallProfile', { Payload: bytes.toString('base64') });
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { issues: Issue[] }).issues.map((i) => i.path).sort()).to.deep.equal(paths.sort());
    }
    expect((await history()).length).to.equal(before);
    // The structural check and Apple's schemas agree on these profiles.
    expect(validateProfile(parseDevicePlist(missingUuid))).to.not.be.empty;
    expect(validateProfile(parseDevicePlist(notConfiguration))).to.not.be.empty;
    expect(formatViolations(validateProfile(parseDevicePlist(WEBCLIP_PROFILE)))).to.equal('');
    expect(checkInstallableProfile(WEBCLIP_PROFILE).ok).to.equal(true);
  });

  it('unwraps a signed profile, checks its content and signature, and the device installs it', async () => {
    const signer = createCertificateAuthority({ commonName: 'Profile Signer', validityDays: 30 });
    const signed = signProfile(
      profileWith((p) => {
        p.PayloadIdentifier = 'com.example.signed';
      }),
      signer.certPem,
      signer.keyPem,
    );
    const check = checkInstallableProfile(signed);
    expect(check.ok && check.profile).to.include({ identifier: 'com.example.signed', signed: true });
    const tampered = Buffer.from(signed);
    const at = tampered.indexOf(Buffer.from('Intranet'));
    tampered[at] ^= 1;
    const refused = await enqueue('InstallProfile', { Payload: tampered.toString('base64') });
    expect(refused.status).to.equal(400);
    const badSignedContent = signProfile(
      profileWith((p) => {
        delete p.PayloadIdentifier;
      }),
      signer.certPem,
      signer.keyPem,
    );
    const refused2 = await enqueue('InstallProfile', { Payload: badSignedContent.toString('base64') });
    expect(((await refused2.json()) as { issues: Issue[] }).issues.map((i) => i.path)).to.deep.equal([
      'payload.Payload.PayloadIdentifier',
    ]);
    expect((await enqueue('InstallProfile', { Payload: { base64: signed.toString('base64') } })).status).to.equal(202);
    await device.poll();
    const installed = device.state.profiles.get('com.example.signed');
    expect(installed?.signerCertificates).to.have.length(1);
  });

  it('describes data keys as base64 in the OpenAPI document', async () => {
    const doc = JSON.stringify(await (await gw.fetch('/api/openapi.json')).json());
    expect(doc).to.include('"contentEncoding":"base64"');
    expect(doc).to.include('/api/mdm/bulk/commands');
    for (const requestType of REGISTERED_REQUEST_TYPES) expect(doc).to.include(`"const":"${requestType}"`);
  });
});

/** `base64` (GNU coreutils) wraps at 76 columns; admins paste that. */
function GNU_WRAP(text: string): string {
  return text.replace(/.{76}/g, '$&\n');
}

describe('mdm profile identifier for a public URL that is an IP address', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const push = recordingPush({ topic: TEST_TOPIC });
  before(async () => {
    gw = await startTestGateway({
      label: 'mdmipid',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, push.plugin],
      config: { publicUrl: 'https://127.0.0.1:8443' },
    });
  });
  after(() => gw?.stop());

  it('serves the enrollment profile as "local.ip-127-0-0-1.enrollment", not "1.0.0.127.enrollment"', async () => {
    expect(defaultProfileIdentifier('https://127.0.0.1:8443')).to.equal('local.ip-127-0-0-1.enrollment');
    const minted = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'alice' }),
    });
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: 'https://127.0.0.1:8443' });
    const profile = await device.downloadProfile(((await minted.json()) as { profileUrl: string }).profileUrl);
    expect(profile.profile.identifier).to.equal('local.ip-127-0-0-1.enrollment');
  });
});
