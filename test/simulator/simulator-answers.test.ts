/** The simulator's command answers, checked without HTTP against Apple's schemas and the protocol parsers. */
import { expect } from 'chai';
import { issueSigningCertificate, signProfile } from '../../plugins/mdm/src/pki/index.js';
import {
  buildCommand,
  buildConfigurationProfile,
  buildPlist,
  isRegisteredRequestType,
  type MdmCommand,
  parseCommandReport,
  parseCommandResult,
  parseDevicePlist,
} from '../../plugins/mdm/src/protocol/index.js';
import { formatViolations, validateCommandResponse } from '../support/apple-schema.js';
import { type DeviceInfo, DeviceState } from '../support/device-simulator.js';
import { readEnrollmentProfile } from '../support/device-simulator-profile.js';
import { signedEnrollmentProfile, testPki } from './stub-mdm-server.js';

const INFO: DeviceInfo = {
  udid: '00008110-001A2B3C4D5E801E',
  serialNumber: 'F2LXK0ABCD',
  deviceName: 'Test iPhone',
  osVersion: '17.5',
  buildVersion: '21F79',
  productName: 'iPhone15,4',
  model: 'MTLE3',
  modelName: 'iPhone',
  modelNumber: 'MTLE3ZD/A',
  imei: '351234567890123',
  deviceCapacityGb: 128,
  availableCapacityGb: 87.41,
  batteryLevel: 0.86,
  passcodePresent: true,
  isSupervised: false,
};

function enrolledState(installPolls = 1): DeviceState {
  const state = new DeviceState(INFO, installPolls);
  const enrollment = readEnrollmentProfile(signedEnrollmentProfile());
  state.profiles.set(enrollment.profile.identifier, enrollment.profile);
  state.enrollmentProfileId = enrollment.profile.identifier;
  state.accessRights = enrollment.mdm.accessRights;
  return state;
}

/** Answers like the device would and returns the report as the server parses it. */
function roundTrip(state: DeviceState, command: MdmCommand) {
  const answer = state.answer(parseDevicePlist(buildPlist(command)).Command as never);
  const body = buildPlist({
    UDID: INFO.udid,
    CommandUUID: command.CommandUUID,
    Status: answer.status,
    ...answer.keys,
    ErrorChain: answer.errorChain,
  });
  return parseCommandReport(body);
}

function schemaCheck(requestType: string, result: Record<string, unknown>): void {
  const violations = validateCommandResponse(requestType, result, { os: 'iOS', osVersion: '17.5' });
  // UnusedRedemptionCode is marked required by Apple but only exists for VPP redemption-code installs.
  const relevant = violations.filter((v) => !(v.kind === 'missing-key' && v.path.endsWith('UnusedRedemptionCode')));
  expect(relevant, `${requestType}:\n${formatViolations(relevant)}`).to.deep.equal([]);
}

function unsignedProfile(identifier: string, displayName: string): Buffer {
  return buildPlist(
    buildConfigurationProfile(
      [
        {
          PayloadType: 'com.apple.webClip.managed',
          PayloadVersion: 1,
          PayloadIdentifier: `${identifier}.clip`,
          PayloadUUID: 'C1A5E2B1-0000-4000-8000-00000000C11B',
          URL: 'https://portal.example.com',
          Label: 'Portal',
        },
      ],
      { identifier, displayName, organization: 'Example' },
    ),
  );
}

describe('device simulator: command answers', () => {
  it('answers every command the gateway registers with a schema-valid, parseable result', () => {
    const state = enrolledState();
    const commands: MdmCommand[] = [
      buildCommand('DeviceInformation'),
      buildCommand('SecurityInfo'),
      buildCommand('InstallProfile', { Payload: unsignedProfile('com.example.webclip', 'Portal') }),
      buildCommand('ProfileList'),
      buildCommand('InstallApplication', { iTunesStoreID: 983156458, ManagementFlags: 1 }),
      buildCommand('ManagedApplicationList'),
      buildCommand('InstalledApplicationList'),
      buildCommand('RemoveApplication', { Identifier: 'com.azure.authenticator' }),
      buildCommand('RemoveProfile', { Identifier: 'com.example.webclip' }),
      buildCommand('DeviceLock', { Message: 'Lost' }),
    ];
    for (const command of commands) {
      const requestType = command.Command.RequestType;
      const report = roundTrip(state, command);
      expect(report.status, requestType).to.equal('Acknowledged');
      expect(report.commandUuid).to.equal(command.CommandUUID);
      schemaCheck(requestType, report.result);
      if (isRegisteredRequestType(requestType)) parseCommandResult(requestType, report.result);
    }
  });

  it('DeviceInformation answers only the queried keys it knows', () => {
    const report = roundTrip(
      enrolledState(),
      buildCommand('DeviceInformation', { Queries: ['OSVersion', 'SerialNumber', 'IsSupervised', 'NoSuchKey'] }),
    );
    expect(parseCommandResult('DeviceInformation', report.result)).to.deep.equal({
      OSVersion: '17.5',
      SerialNumber: 'F2LXK0ABCD',
      IsSupervised: false,
    });
  });

  it('ProfileList reflects the enrollment profile, installs (signed and unsigned), replacements and removals', () => {
    const state = enrolledState();
    const list = () =>
      parseCommandResult('ProfileList', roundTrip(state, buildCommand('ProfileList')).result).map((p) => [
        p.PayloadIdentifier,
        p.PayloadDisplayName,
        p.SignerCertificates?.length ?? 0,
      ]);
    expect(list()).to.deep.equal([['com.example.gateway.enrollment', 'Example Device Management', 1]]);

    const signer = issueSigningCertificate(testPki().ca, { commonName: 'Other signer', validityDays: 5 });
    const signed = signProfile(unsignedProfile('com.example.sso', 'SSO'), signer.certPem, signer.keyPem);
    expect(roundTrip(state, buildCommand('InstallProfile', { Payload: signed })).status).to.equal('Acknowledged');
    roundTrip(state, buildCommand('InstallProfile', { Payload: unsignedProfile('com.example.webclip', 'Clip v1') }));
    roundTrip(state, buildCommand('InstallProfile', { Payload: unsignedProfile('com.example.webclip', 'Clip v2') }));
    expect(list()).to.deep.equal([
      ['com.example.gateway.enrollment', 'Example Device Management', 1],
      ['com.example.sso', 'SSO', 1],
      ['com.example.webclip', 'Clip v2', 0],
    ]);
    expect(state.profiles.get('com.example.webclip')?.payloads[0].PayloadType).to.equal('com.apple.webClip.managed');

    expect(roundTrip(state, buildCommand('RemoveProfile', { Identifier: 'com.example.sso' })).status).to.equal(
      'Acknowledged',
    );
    const missing = roundTrip(state, buildCommand('RemoveProfile', { Identifier: 'com.example.sso' }));
    expect(missing.status).to.equal('Error');
    expect(missing.errorChain?.[0]).to.include({ ErrorCode: 1001, ErrorDomain: 'MCProfileErrorDomain' });
    expect(list().map(([id]) => id)).to.deep.equal(['com.example.gateway.enrollment', 'com.example.webclip']);
  });

  it('refuses a garbage InstallProfile payload with an Error, not a crash', () => {
    // The gateway's builder refuses such a payload; another MDM server might send it, so build it by hand.
    const garbage = {
      CommandUUID: 'garbage-1',
      Command: { RequestType: 'InstallProfile', Payload: Buffer.from('nonsense') },
    };
    const report = roundTrip(enrolledState(), garbage);
    expect(report.status).to.equal('Error');
    expect(report.errorChain?.[0].ErrorDomain).to.equal('MCProfileErrorDomain');
  });

  it('apps go Installing → Managed after installPolls sessions and can be removed', () => {
    const state = enrolledState(2);
    const install = roundTrip(state, buildCommand('InstallApplication', { iTunesStoreID: 983156458 }));
    expect(parseCommandResult('InstallApplication', install.result)).to.deep.equal({
      Identifier: 'com.azure.authenticator',
      State: 'Installing',
    });
    const status = () =>
      parseCommandResult('ManagedApplicationList', roundTrip(state, buildCommand('ManagedApplicationList')).result)[
        'com.azure.authenticator'
      ]?.Status;
    expect(status()).to.equal('Installing');
    state.advanceTime();
    expect(status()).to.equal('Installing');
    state.advanceTime();
    expect(status()).to.equal('Managed');
    roundTrip(state, buildCommand('InstallApplication', { iTunesStoreID: 42 }));
    const installed = parseCommandResult(
      'InstalledApplicationList',
      roundTrip(state, buildCommand('InstalledApplicationList')).result,
    );
    expect(installed.map((a) => [a.Identifier, a.Installing])).to.deep.equal([
      ['com.azure.authenticator', false],
      ['app.42', true],
    ]);
    expect(roundTrip(state, buildCommand('RemoveApplication', { Identifier: 'app.42' })).status).to.equal(
      'Acknowledged',
    );
    expect(roundTrip(state, buildCommand('RemoveApplication', { Identifier: 'app.42' })).status).to.equal('Error');
  });

  it('scripted NotNow / Error / CommandFormatError apply the given number of times, then normal answers resume', () => {
    const state = enrolledState();
    state.script({ RequestType: 'SecurityInfo', respond: 'NotNow', times: 2 });
    state.script({ RequestType: 'DeviceInformation', respond: 'Error' });
    state.script({ RequestType: 'ProfileList', respond: 'CommandFormatError' });
    const statuses = [
      roundTrip(state, buildCommand('SecurityInfo')).status,
      roundTrip(state, buildCommand('SecurityInfo')).status,
      roundTrip(state, buildCommand('SecurityInfo')).status,
    ];
    expect(statuses).to.deep.equal(['NotNow', 'NotNow', 'Acknowledged']);
    const error = roundTrip(state, buildCommand('DeviceInformation'));
    expect(error.status).to.equal('Error');
    expect(error.errorChain).to.have.length(1);
    expect(roundTrip(state, buildCommand('DeviceInformation')).status).to.equal('Acknowledged');
    expect(roundTrip(state, buildCommand('ProfileList')).status).to.equal('CommandFormatError');
    expect(state.scripts).to.deep.equal([]);
  });

  it('unknown RequestTypes and commands outside AccessRights get an Error with an ErrorChain', () => {
    const state = enrolledState();
    const unknown = state.answer({ RequestType: 'EnableLostMode' });
    expect(unknown.status).to.equal('Error');
    expect(unknown.errorChain?.[0]).to.include({ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain' });
    state.accessRights = 16; // device information only
    expect(state.answer({ RequestType: 'DeviceLock' }).status).to.equal('Error');
    expect(state.answer({ RequestType: 'DeviceInformation', Queries: ['UDID'] }).status).to.equal('Acknowledged');
  });

  it('malformed commands get CommandFormatError', () => {
    const state = enrolledState();
    expect(state.answer({ RequestType: 'DeviceInformation' }).status).to.equal('CommandFormatError');
    expect(state.answer({ RequestType: 'RemoveProfile' }).status).to.equal('CommandFormatError');
    expect(state.answer({ RequestType: 'InstallApplication' }).status).to.equal('CommandFormatError');
  });
});
