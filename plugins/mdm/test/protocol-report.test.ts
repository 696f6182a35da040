import { expect } from 'chai';
import { formatViolations, validateCommandResponse } from '../../../test/support/apple-schema.js';
import {
  CommandReportError,
  MdmCommandError,
  PlistError,
  parseCommandReport,
  parseCommandResult,
  type RegisteredRequestType,
} from '../src/protocol/index.js';

const UDID = '00008120-001A2B3C4D5E801E';
const CMD = '0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0';

function report(
  entries: string,
  envelope = `<key>CommandUUID</key><string>${CMD}</string><key>Status</key><string>Acknowledged</string>`,
): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t${envelope}
\t<key>UDID</key>
\t<string>${UDID}</string>
${entries}
</dict>
</plist>
`,
  );
}

const DEVICE_INFORMATION = report(`\t<key>QueryResponses</key>
\t<dict>
\t\t<key>AvailableDeviceCapacity</key><real>87.53</real>
\t\t<key>BuildVersion</key><string>21E236</string>
\t\t<key>DeviceCapacity</key><real>128</real>
\t\t<key>DeviceName</key><string>iPhone</string>
\t\t<key>IMEI</key><string>35 209900 176148 1</string>
\t\t<key>IsActivationLockEnabled</key><true/>
\t\t<key>IsCloudBackupEnabled</key><false/>
\t\t<key>IsDeviceLocatorServiceEnabled</key><true/>
\t\t<key>IsSupervised</key><false/>
\t\t<key>MEID</key><string>35209900176148</string>
\t\t<key>Model</key><string>MQ9T3</string>
\t\t<key>ModelName</key><string>iPhone</string>
\t\t<key>OSVersion</key><string>17.4.1</string>
\t\t<key>ProductName</key><string>iPhone15,2</string>
\t\t<key>SerialNumber</key><string>F2LZK1ABCD12</string>
\t\t<key>UDID</key><string>${UDID}</string>
\t</dict>`);

const PROFILE_LIST = report(`\t<key>ProfileList</key>
\t<array>
\t\t<dict>
\t\t\t<key>HasRemovalPasscode</key><false/>
\t\t\t<key>IsEncrypted</key><false/>
\t\t\t<key>IsManaged</key><true/>
\t\t\t<key>PayloadContent</key>
\t\t\t<array>
\t\t\t\t<dict>
\t\t\t\t\t<key>PayloadDisplayName</key><string>Device management</string>
\t\t\t\t\t<key>PayloadIdentifier</key><string>com.example.gateway.enroll.mdm</string>
\t\t\t\t\t<key>PayloadType</key><string>com.apple.mdm</string>
\t\t\t\t\t<key>PayloadUUID</key><string>5C2B8E11-0A3D-4F5E-9B6C-7D8E9FA0B1C2</string>
\t\t\t\t\t<key>PayloadVersion</key><integer>1</integer>
\t\t\t\t</dict>
\t\t\t</array>
\t\t\t<key>PayloadDescription</key><string>Enrolls this device</string>
\t\t\t<key>PayloadDisplayName</key><string>Example enrollment</string>
\t\t\t<key>PayloadIdentifier</key><string>com.example.gateway.enroll</string>
\t\t\t<key>PayloadOrganization</key><string>Example Corp</string>
\t\t\t<key>PayloadRemovalDisallowed</key><false/>
\t\t\t<key>PayloadUUID</key><string>9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D</string>
\t\t\t<key>PayloadVersion</key><integer>1</integer>
\t\t\t<key>SignerCertificates</key><array><data>MIIBszCCAVmgAwIBAgIU</data></array>
\t\t</dict>
\t</array>`);

const MANAGED_APPLICATION_LIST = report(`\t<key>ManagedApplicationList</key>
\t<dict>
\t\t<key>com.microsoft.Office.Outlook</key>
\t\t<dict>
\t\t\t<key>ExternalVersionIdentifier</key><integer>862511539</integer>
\t\t\t<key>HasConfiguration</key><true/>
\t\t\t<key>HasFeedback</key><false/>
\t\t\t<key>IsValidated</key><true/>
\t\t\t<key>ManagementFlags</key><integer>1</integer>
\t\t\t<key>Status</key><string>Managed</string>
\t\t\t<key>UnusedRedemptionCode</key><string></string>
\t\t</dict>
\t\t<key>com.example.portal</key>
\t\t<dict>
\t\t\t<key>ExternalVersionIdentifier</key><integer>0</integer>
\t\t\t<key>HasConfiguration</key><false/>
\t\t\t<key>HasFeedback</key><false/>
\t\t\t<key>IsValidated</key><false/>
\t\t\t<key>ManagementFlags</key><integer>5</integer>
\t\t\t<key>Status</key><string>Prompting</string>
\t\t\t<key>UnusedRedemptionCode</key><string></string>
\t\t</dict>
\t</dict>`);

const INSTALLED_APPLICATION_LIST = report(`\t<key>InstalledApplicationList</key>
\t<array>
\t\t<dict>
\t\t\t<key>BundleSize</key><integer>301858816</integer>
\t\t\t<key>DynamicSize</key><integer>52428800</integer>
\t\t\t<key>Identifier</key><string>com.microsoft.Office.Outlook</string>
\t\t\t<key>Installing</key><false/>
\t\t\t<key>Name</key><string>Outlook</string>
\t\t\t<key>ShortVersion</key><string>4.2412.0</string>
\t\t\t<key>Version</key><string>4.2412.0</string>
\t\t</dict>
\t</array>`);

const SECURITY_INFO = report(`\t<key>SecurityInfo</key>
\t<dict>
\t\t<key>HardwareEncryptionCaps</key><integer>3</integer>
\t\t<key>PasscodeCompliant</key><true/>
\t\t<key>PasscodeCompliantWithProfiles</key><true/>
\t\t<key>PasscodeLockGracePeriodEnforced</key><integer>0</integer>
\t\t<key>PasscodePresent</key><true/>
\t</dict>`);

const RESULTS: [RegisteredRequestType, Buffer][] = [
  ['DeviceInformation', DEVICE_INFORMATION],
  ['ProfileList', PROFILE_LIST],
  ['ManagedApplicationList', MANAGED_APPLICATION_LIST],
  ['InstalledApplicationList', INSTALLED_APPLICATION_LIST],
  ['SecurityInfo', SECURITY_INFO],
];

describe('protocol/report parseCommandReport', () => {
  it('parses Idle (no CommandUUID)', () => {
    const r = parseCommandReport(report('', '<key>Status</key><string>Idle</string>'));
    expect(r).to.deep.include({ deviceId: UDID, udid: UDID, status: 'Idle', commandUuid: undefined });
    expect(r.result).to.deep.equal({});
  });

  it('separates envelope keys from the result and keeps raw bytes', () => {
    const r = parseCommandReport(DEVICE_INFORMATION);
    expect(r.status).to.equal('Acknowledged');
    expect(r.commandUuid).to.equal(CMD);
    expect(Object.keys(r.result)).to.deep.equal(['QueryResponses']);
    expect(r.raw).to.equal(DEVICE_INFORMATION);
  });

  it('parses Error with an ErrorChain, and NotNow / CommandFormatError', () => {
    const chain = `<key>ErrorChain</key><array><dict>
      <key>ErrorCode</key><integer>4001</integer>
      <key>ErrorDomain</key><string>MCProfileErrorDomain</string>
      <key>LocalizedDescription</key><string>Das Profil ist ungültig.</string>
      <key>USEnglishDescription</key><string>The profile is invalid.</string>
    </dict></array>`;
    const r = parseCommandReport(
      report(chain, `<key>CommandUUID</key><string>${CMD}</string><key>Status</key><string>Error</string>`),
    );
    expect(r.status).to.equal('Error');
    expect(r.errorChain).to.deep.equal([
      {
        ErrorCode: 4001,
        ErrorDomain: 'MCProfileErrorDomain',
        LocalizedDescription: 'Das Profil ist ungültig.',
        USEnglishDescription: 'The profile is invalid.',
      },
    ]);
    expect(r.result).to.deep.equal({});
    for (const status of ['NotNow', 'CommandFormatError']) {
      const s = parseCommandReport(
        report('', `<key>CommandUUID</key><string>${CMD}</string><key>Status</key><string>${status}</string>`),
      );
      expect(s.status).to.equal(status);
    }
  });

  it('identifies User Enrollment reports by EnrollmentID', () => {
    const body = Buffer.from(
      report('', '<key>Status</key><string>Idle</string>')
        .toString()
        .replace(
          `<key>UDID</key>\n\t<string>${UDID}</string>`,
          '<key>EnrollmentID</key><string>8D1C5B6E4A3F2E1D</string>',
        ),
    );
    const r = parseCommandReport(body);
    expect(r).to.deep.include({ deviceId: '8D1C5B6E4A3F2E1D', enrollmentId: '8D1C5B6E4A3F2E1D', udid: undefined });
  });

  it('rejects reports without a device identifier, bad Status, or a missing CommandUUID', () => {
    const noUdid = Buffer.from(
      DEVICE_INFORMATION.toString().replace(`<key>UDID</key>\n\t<string>${UDID}</string>`, ''),
    );
    expect(() => parseCommandReport(noUdid)).to.throw(CommandReportError, /UDID/);
    expect(() => parseCommandReport(report('', '<key>Status</key><string>Done</string>'))).to.throw(
      CommandReportError,
      /Status/,
    );
    expect(() => parseCommandReport(report('', '<key>Status</key><string>Acknowledged</string>'))).to.throw(
      CommandReportError,
      /CommandUUID/,
    );
    const badChain = report(
      '<key>ErrorChain</key><array><dict><key>ErrorCode</key><string>x</string></dict></array>',
      `<key>CommandUUID</key><string>${CMD}</string><key>Status</key><string>Error</string>`,
    );
    expect(() => parseCommandReport(badChain)).to.throw(CommandReportError, /ErrorChain/);
    expect(() => parseCommandReport(Buffer.from('bplist00'))).to.throw(PlistError);
  });
});

describe('protocol/command-results parsers', () => {
  it('DeviceInformation → QueryResponses', () => {
    const q = parseCommandResult('DeviceInformation', parseCommandReport(DEVICE_INFORMATION).result);
    expect(q.OSVersion).to.equal('17.4.1');
    expect(q.DeviceCapacity).to.equal(128);
    expect(q.IsSupervised).to.equal(false);
    expect(q.SerialNumber).to.equal('F2LZK1ABCD12');
  });

  it('ProfileList → list of profiles with their payload summaries', () => {
    const list = parseCommandResult('ProfileList', parseCommandReport(PROFILE_LIST).result);
    expect(list).to.have.length(1);
    expect(list[0]).to.deep.include({
      PayloadIdentifier: 'com.example.gateway.enroll',
      PayloadDisplayName: 'Example enrollment',
      PayloadUUID: '9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D',
      IsManaged: true,
    });
    expect(list[0].PayloadContent?.[0].PayloadType).to.equal('com.apple.mdm');
    expect(Buffer.isBuffer(list[0].SignerCertificates?.[0])).to.equal(true);
  });

  it('ManagedApplicationList → map keyed by bundle id', () => {
    const apps = parseCommandResult('ManagedApplicationList', parseCommandReport(MANAGED_APPLICATION_LIST).result);
    expect(Object.keys(apps)).to.deep.equal(['com.microsoft.Office.Outlook', 'com.example.portal']);
    expect(apps['com.microsoft.Office.Outlook']).to.deep.include({
      Status: 'Managed',
      ManagementFlags: 1,
      HasConfiguration: true,
    });
    expect(apps['com.example.portal'].Status).to.equal('Prompting');
  });

  it('InstalledApplicationList, SecurityInfo, InstallApplication, DeviceLock and empty results', () => {
    const installed = parseCommandResult(
      'InstalledApplicationList',
      parseCommandReport(INSTALLED_APPLICATION_LIST).result,
    );
    expect(installed[0]).to.deep.include({ Identifier: 'com.microsoft.Office.Outlook', BundleSize: 301858816 });
    const security = parseCommandResult('SecurityInfo', parseCommandReport(SECURITY_INFO).result);
    expect(security).to.deep.include({ PasscodePresent: true, PasscodeCompliant: true, HardwareEncryptionCaps: 3 });
    expect(
      parseCommandResult('InstallApplication', { Identifier: 'com.example.portal', State: 'Queued' }),
    ).to.deep.equal({
      Identifier: 'com.example.portal',
      State: 'Queued',
    });
    expect(parseCommandResult('DeviceLock', { MessageResult: 'Success' }).MessageResult).to.equal('Success');
    expect(parseCommandResult('RemoveProfile', {})).to.deep.equal({});
  });

  it('rejects results whose known keys have the wrong type', () => {
    const cases: [RegisteredRequestType, Record<string, never> | Record<string, unknown>][] = [
      ['DeviceInformation', { QueryResponses: { OSVersion: 17 } }],
      ['DeviceInformation', {}],
      ['ProfileList', { ProfileList: [{ PayloadIdentifier: 'x' }] }],
      ['ManagedApplicationList', { ManagedApplicationList: { 'com.x': { Status: 3 } } }],
      ['SecurityInfo', { SecurityInfo: { PasscodePresent: 'yes' } }],
      ['InstallApplication', { State: true }],
    ];
    for (const [type, result] of cases) {
      expect(() => parseCommandResult(type, result as never), type).to.throw(MdmCommandError, /invalid/);
    }
  });
});

describe('result fixtures conform to Apple schema (responsekeys)', () => {
  for (const [requestType, body] of RESULTS) {
    it(`${requestType} response has zero violations`, () => {
      const violations = validateCommandResponse(requestType, parseCommandReport(body).result, {
        os: 'iOS',
        osVersion: '17.4',
      });
      expect(violations, formatViolations(violations)).to.deep.equal([]);
    });
  }
});
