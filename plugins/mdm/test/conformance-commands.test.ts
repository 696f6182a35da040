import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  formatViolations,
  listRequestTypes,
  type SchemaContext,
  validateCommand,
  validateCommandEnvelope,
} from '../../../test/support/apple-schema.js';
import {
  buildCommand,
  buildDeviceInformation,
  buildDeviceLock,
  buildInstallApplication,
  buildPlist,
  type MdmCommand,
  parseDevicePlist,
  REGISTERED_REQUEST_TYPES,
  type RegisteredRequestType,
} from '../src/protocol/index.js';

const IOS17: SchemaContext = { os: 'iOS', osVersion: '17.4', enrollment: 'device', channel: 'device' };

/** At least one realistic instance of every registered command, using its optional keys where they make sense. */
const SAMPLES: Record<RegisteredRequestType, MdmCommand[]> = {
  DeviceInformation: [buildDeviceInformation(), buildDeviceInformation({ Queries: ['OSVersion', 'SerialNumber'] })],
  SecurityInfo: [buildCommand('SecurityInfo')],
  ProfileList: [buildCommand('ProfileList'), buildCommand('ProfileList', { ManagedOnly: true })],
  InstallProfile: [
    buildCommand('InstallProfile', {
      Payload: readFileSync(new URL('./fixtures/webclip.mobileconfig', import.meta.url)),
    }),
  ],
  RemoveProfile: [buildCommand('RemoveProfile', { Identifier: 'com.example.gateway.webclip' })],
  InstallApplication: [
    buildInstallApplication({ iTunesStoreID: 951937596, ManagementFlags: 1, Options: { PurchaseMethod: 1 } }),
    buildInstallApplication({
      Identifier: 'com.microsoft.Office.Outlook',
      ManagementFlags: 5,
      ChangeManagementState: 'Managed',
      Configuration: { IntuneMAMUPN: 'alice@example.com', Tenant: 'example' },
      Attributes: { Removable: true, AssociatedDomains: ['applinks:example.com'] },
    }),
    buildInstallApplication({ ManifestURL: 'https://apps.example.com/portal/manifest.plist', ManagementFlags: 4 }),
  ],
  ManagedApplicationList: [
    buildCommand('ManagedApplicationList'),
    buildCommand('ManagedApplicationList', { Identifiers: ['com.example.portal'] }),
  ],
  InstalledApplicationList: [
    buildCommand('InstalledApplicationList'),
    buildCommand('InstalledApplicationList', { Identifiers: ['com.example.portal'], ManagedAppsOnly: false }),
  ],
  RemoveApplication: [buildCommand('RemoveApplication', { Identifier: 'com.example.portal' })],
  DeviceLock: [
    buildDeviceLock(),
    buildDeviceLock({ Message: 'This iPhone was lost. Please call:', PhoneNumber: '+49 30 1234567' }),
  ],
  DeclarativeManagement: [
    buildCommand('DeclarativeManagement'),
    buildCommand('DeclarativeManagement', {
      Data: Buffer.from('{"DeclarationsToken":"4f2a","Timestamp":"2026-01-01T00:00:00Z"}'),
    }),
  ],
};

describe('conformance: MDM command builders vs mdm/commands/*.yaml', () => {
  it('every registered RequestType has an Apple schema', () => {
    const known = new Set(listRequestTypes());
    for (const type of REGISTERED_REQUEST_TYPES) expect(known.has(type), type).to.equal(true);
  });

  for (const requestType of REGISTERED_REQUEST_TYPES) {
    it(`${requestType}: every sample has zero violations (iOS 17, device enrollment), also after plist round-trip`, () => {
      expect(SAMPLES[requestType]).to.have.length.above(0);
      for (const command of SAMPLES[requestType]) {
        const direct = validateCommand(requestType, command.Command, IOS17);
        expect(direct, formatViolations(direct)).to.deep.equal([]);
        const wire = parseDevicePlist(buildPlist(command));
        const envelope = validateCommandEnvelope(wire, IOS17);
        expect(envelope, formatViolations(envelope)).to.deep.equal([]);
      }
    });
  }

  it('the default DeviceInformation queries are all valid on iOS 17 device enrollment', () => {
    const violations = validateCommand('DeviceInformation', buildDeviceInformation().Command, IOS17);
    expect(violations, formatViolations(violations)).to.deep.equal([]);
  });

  it('flags keys the target platform does not support (PIN, InstallAsManaged are macOS-only)', () => {
    const lockWithPin = buildDeviceLock({ Message: 'Lost', PIN: '123456' }).Command;
    const onIos = validateCommand('DeviceLock', lockWithPin, IOS17);
    expect(onIos.map((v) => [v.path, v.kind])).to.deep.equal([['PIN', 'unsupported']]);
    expect(validateCommand('DeviceLock', lockWithPin, { os: 'macOS', osVersion: '14.0' })).to.deep.equal([]);

    const asManaged = buildInstallApplication({ Identifier: 'com.example.portal', InstallAsManaged: true }).Command;
    expect(validateCommand('InstallApplication', asManaged, IOS17).map((v) => v.path)).to.deep.equal([
      'InstallAsManaged',
    ]);
    expect(validateCommand('InstallApplication', asManaged, { os: 'macOS', osVersion: '14.0' })).to.deep.equal([]);
  });

  it('with User Enrollment, device-identity queries and ChangeManagementState are flagged', () => {
    const ue: SchemaContext = { ...IOS17, enrollment: 'user' };
    const paths = validateCommand('DeviceInformation', buildDeviceInformation().Command, ue).map((v) => v.path);
    for (const query of ['UDID', 'SerialNumber', 'IMEI', 'MEID']) {
      const index = defaultQueryIndex(query);
      expect(paths, query).to.include(`Queries[${index}]`);
    }
    const take = buildInstallApplication({ Identifier: 'com.x', ChangeManagementState: 'Managed' }).Command;
    expect(validateCommand('InstallApplication', take, ue).map((v) => v.path)).to.deep.equal(['ChangeManagementState']);
  });
});

function defaultQueryIndex(query: string): number {
  const queries = buildDeviceInformation().Command.Queries as string[];
  return queries.indexOf(query);
}
