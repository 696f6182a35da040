import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { expect } from 'chai';
import { deviceDirectoryRef, managedItemsPoint } from 'enrollment-gateway/sdk';
import { parse as parsePlist } from 'plist';
import {
  formatViolations,
  validateCommand,
  validatePayload,
  validateProfile,
} from '../../../test/support/apple-schema.js';
import { type AnsweredCommand, SimulatedDevice } from '../../../test/support/device-simulator.js';
import { eventsDelivered } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { buildWebClipProfile, checkIcon } from '../src/profile.js';

const PUBLIC_URL = 'https://gateway.test';

const start = (label: string, webClip: Record<string, unknown> = {}) =>
  startTestGateway({
    label,
    enable: ['mdm', 'admin-access', 'company-portal', 'web-clip'],
    plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    config: { plugins: { 'company-portal': { brandColor: '#c50f1f' }, 'web-clip': webClip } },
  });

async function enrolledDevice(gw: TestGateway) {
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
  return { device, id: String(record?.id) };
}

describe('web-clip: the Company Portal icon on enrolled devices', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  before(async () => {
    gw = await start('webclip', { label: 'Contoso Portal', fullScreen: true, isRemovable: false });
  });
  after(() => gw?.stop());

  it('installs a schema-valid com.apple.webClip.managed profile pointing at the portal, and reports it for removal', async () => {
    const { device, id } = await enrolledDevice(gw);
    const answered = await device.poll();
    const install = answered.find((a) => a.requestType === 'InstallProfile') as AnsweredCommand;
    expect(install.status).to.equal('Acknowledged');
    expect(formatViolations(validateCommand('InstallProfile', install.command))).to.equal('');

    const dict = parsePlist((install.command.Payload as Buffer).toString('utf8')) as Record<string, unknown>;
    expect(formatViolations(validateProfile(dict, { os: 'iOS' }))).to.equal('');
    expect(dict.PayloadIdentifier).to.equal('test.gateway.webclip');
    const [clip] = dict.PayloadContent as Record<string, unknown>[];
    expect(formatViolations(validatePayload('com.apple.webClip.managed', clip, { os: 'iOS' }))).to.equal('');
    expect(clip).to.include({
      PayloadType: 'com.apple.webClip.managed',
      URL: `${PUBLIC_URL}/`,
      Label: 'Contoso Portal',
      FullScreen: true,
      IsRemovable: false,
      Precomposed: true,
    });
    // The portal's icon, in its brand colour: a 180 × 180 PNG whose corner pixel is #c50f1f.
    const icon = Buffer.from(clip.Icon as Uint8Array);
    expect(checkIcon(icon, 'icon')).to.equal(icon);
    expect(icon.readUInt32BE(16)).to.equal(180);
    const idat = icon.indexOf('IDAT');
    const pixels = inflateSync(icon.subarray(idat + 4, idat + 4 + icon.readUInt32BE(idat - 4)));
    expect(pixels.subarray(1, 4).toString('hex')).to.equal('c50f1f');
    expect([...device.state.profiles.keys()]).to.include('test.gateway.webclip');

    const [source] = gw.gateway
      .context('web-clip')
      .extensions(managedItemsPoint)
      .filter((c) => c.plugin === 'web-clip');
    await eventually(async () =>
      expect(await source.value.installedOn(id)).to.deep.equal([
        { kind: 'profile', identifier: 'test.gateway.webclip', displayName: 'Contoso Portal' },
      ]),
    );
    expect(await source.value.installedOn('000000000000000000000000')).to.deep.equal([]);
  });

  it('forgets a profile the device refused, so unenrollment does not try to remove it', async () => {
    const { device, id } = await enrolledDevice(gw);
    const [source] = gw.gateway
      .context('web-clip')
      .extensions(managedItemsPoint)
      .filter((c) => c.plugin === 'web-clip');
    // Queued and not answered yet: it may be on the device, so it is listed.
    expect(await source.value.installedOn(id)).to.have.length(1);
    device.script({ RequestType: 'InstallProfile', respond: 'Error' });
    await device.poll();
    await eventually(async () => expect(await source.value.installedOn(id)).to.deep.equal([]));
  });

  it('refuses an icon file that is not a square PNG of at most 400 pixels', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'webclip-'));
    const notPng = path.join(dir, 'icon.jpg');
    writeFileSync(notPng, Buffer.from('ffd8ffe000104a464946', 'hex'));
    let failure: unknown;
    await start('webclipbadicon', { iconFile: notPng }).then(
      (started) => started.stop(),
      (error) => {
        failure = error;
      },
    );
    expect(String(failure)).to.include('is not a PNG file');
    const wide = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(wide);
    wide.writeUInt32BE(13, 8);
    wide.write('IHDR', 12, 'latin1');
    wide.writeUInt32BE(500, 16);
    wide.writeUInt32BE(300, 20);
    expect(() => checkIcon(wide, 'wide.png')).to.throw('must be square');
    const noHeader = Buffer.from(wide);
    noHeader.write('IEND', 12, 'latin1');
    expect(() => checkIcon(noHeader, 'odd.png')).to.throw('no IHDR header');
  });

  it('keeps the same identifiers for the same settings, so a second install replaces the first', () => {
    const settings = {
      identifier: 'com.example.webclip',
      label: 'Company Portal',
      url: 'https://mdm.example.com/',
      icon: Buffer.alloc(0),
      isRemovable: true,
      fullScreen: false,
      organization: 'Example',
    };
    expect(buildWebClipProfile(settings).dict).to.deep.equal(buildWebClipProfile(settings).dict);
  });
});
