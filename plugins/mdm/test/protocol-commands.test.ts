import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  buildCommand,
  buildDeviceInformation,
  buildDeviceLock,
  buildInstallApplication,
  buildInstalledApplicationList,
  buildInstallProfile,
  buildPlist,
  DEFAULT_DEVICE_INFORMATION_QUERIES,
  isRegisteredRequestType,
  MdmCommandError,
  parseDevicePlist,
  REGISTERED_REQUEST_TYPES,
} from '../src/protocol/index.js';

function expectCommandError(fn: () => unknown, reason: MdmCommandError['reason'], pattern?: RegExp): MdmCommandError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(MdmCommandError);
  const error = caught as MdmCommandError;
  expect(error.reason).to.equal(reason);
  if (pattern) expect(error.message).to.match(pattern);
  return error;
}

describe('protocol/commands builders', () => {
  it('wraps the command in { CommandUUID, Command: { RequestType } } with a fresh UUID', () => {
    const a = buildDeviceInformation();
    const b = buildDeviceInformation();
    expect(a.Command.RequestType).to.equal('DeviceInformation');
    expect(a.CommandUUID).to.match(/^[0-9a-f-]{36}$/);
    expect(a.CommandUUID).not.to.equal(b.CommandUUID);
    expect(a.Command.Queries).to.deep.equal([...DEFAULT_DEVICE_INFORMATION_QUERIES]);
    expect(buildDeviceInformation({ Queries: ['OSVersion'] }, 'cmd-1')).to.deep.equal({
      CommandUUID: 'cmd-1',
      Command: { RequestType: 'DeviceInformation', Queries: ['OSVersion'] },
    });
  });

  it('serializes InstallProfile payload bytes as <data> and round-trips', () => {
    const profileBytes = readFileSync(new URL('./fixtures/webclip.mobileconfig', import.meta.url));
    const command = buildInstallProfile({ Payload: profileBytes }, 'install-1');
    const back = parseDevicePlist(buildPlist(command));
    const inner = back.Command as Record<string, unknown>;
    expect(inner.RequestType).to.equal('InstallProfile');
    expect((inner.Payload as Buffer).equals(profileBytes)).to.equal(true);
  });

  it('accepts any Uint8Array payload (e.g. from storage) and yields a Buffer', () => {
    const bytes = readFileSync(new URL('./fixtures/webclip.mobileconfig', import.meta.url));
    const command = buildInstallProfile({ Payload: new Uint8Array(bytes) });
    expect(Buffer.isBuffer(command.Command.Payload)).to.equal(true);
    // A payload that is not a profile is refused at build time, with the key named.
    expectCommandError(
      () => buildInstallProfile({ Payload: new Uint8Array([0x30, 0x82, 0x01, 0x00]) }),
      'invalid-params',
      /Payload/,
    );
  });

  it('InstallApplication needs exactly one app reference and only allowed ManagementFlags', () => {
    expect(buildInstallApplication({ iTunesStoreID: 951937596, ManagementFlags: 1 }).Command).to.deep.equal({
      RequestType: 'InstallApplication',
      iTunesStoreID: 951937596,
      ManagementFlags: 1,
    });
    expectCommandError(() => buildInstallApplication({}), 'invalid-params', /exactly one/);
    expectCommandError(
      () => buildInstallApplication({ iTunesStoreID: 1, Identifier: 'com.x' }),
      'invalid-params',
      /exactly one/,
    );
    expectCommandError(
      () => buildInstallApplication({ Identifier: 'com.x', ManagementFlags: 2 as never }),
      'invalid-params',
      /ManagementFlags/,
    );
    expectCommandError(
      () => buildInstallApplication({ ManifestURL: 'http://x/m.plist' }),
      'invalid-params',
      /ManifestURL/,
    );
  });

  it('InstalledApplicationList defaults to managed apps only; the caller can widen it', () => {
    expect(buildInstalledApplicationList().Command).to.deep.equal({
      RequestType: 'InstalledApplicationList',
      ManagedAppsOnly: true,
    });
    expect(buildInstalledApplicationList({ ManagedAppsOnly: false }).Command.ManagedAppsOnly).to.equal(false);
  });

  it('DeviceLock: PIN must be six digits', () => {
    expect(buildDeviceLock({ Message: 'Lost phone', PhoneNumber: '+49 30 1234567' }).Command).to.deep.equal({
      RequestType: 'DeviceLock',
      Message: 'Lost phone',
      PhoneNumber: '+49 30 1234567',
    });
    expectCommandError(() => buildDeviceLock({ PIN: '12ab56' }), 'invalid-params', /PIN/);
  });

  it('rejects unknown parameter keys instead of sending them to the device', () => {
    expectCommandError(
      () => buildCommand('RemoveProfile', { Identifier: 'a.b', Extra: 1 }),
      'invalid-params',
      /Extra|unrecognized/i,
    );
    expectCommandError(() => buildCommand('RemoveProfile', {}), 'invalid-params', /Identifier/);
  });

  it('rejects unsafe CommandUUIDs', () => {
    expectCommandError(() => buildCommand('SecurityInfo', {}, 'a b<c>'), 'invalid-params', /CommandUUID/);
  });
});

describe('protocol/commands registry', () => {
  it('lists exactly the supported RequestTypes', () => {
    expect([...REGISTERED_REQUEST_TYPES].sort()).to.deep.equal(
      [
        'DeclarativeManagement',
        'DeviceInformation',
        'DeviceLock',
        'InstallApplication',
        'InstallProfile',
        'InstalledApplicationList',
        'ManagedApplicationList',
        'ProfileList',
        'RemoveApplication',
        'RemoveProfile',
        'SecurityInfo',
      ].sort(),
    );
  });

  it('rejects unknown RequestTypes (including prototype keys)', () => {
    for (const type of ['EraseDevice', 'ClearPasscode', 'toString', '__proto__', '']) {
      expect(isRegisteredRequestType(type), type).to.equal(false);
      expectCommandError(() => buildCommand(type, {}), 'unknown-request-type');
    }
  });

  it('builds from untrusted queue input (SDK QueuedCommandInput shape)', () => {
    const command = buildCommand('ManagedApplicationList', { Identifiers: ['com.example.portal'] }, 'q-1');
    expect(command).to.deep.equal({
      CommandUUID: 'q-1',
      Command: { RequestType: 'ManagedApplicationList', Identifiers: ['com.example.portal'] },
    });
    expectCommandError(
      () => buildCommand('ManagedApplicationList', { Identifiers: 'com.example.portal' }),
      'invalid-params',
    );
  });
});
