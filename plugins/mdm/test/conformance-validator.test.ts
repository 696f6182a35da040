import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import {
  appleSchemaDir,
  listCheckinMessageTypes,
  listPayloadTypes,
  listRequestTypes,
  type SchemaViolation,
  validateCheckin,
  validateCommand,
  validateCommandEnvelope,
  validateCommandResponse,
  validatePayload,
  validateProfile,
} from '../../../test/support/apple-schema.js';

const UUID = '5C2B8E11-0A3D-4F5E-9B6C-7D8E9FA0B1C2';

function mdmPayload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    PayloadType: 'com.apple.mdm',
    PayloadVersion: 1,
    PayloadIdentifier: 'com.example.mdm',
    PayloadUUID: UUID,
    IdentityCertificateUUID: '0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D',
    Topic: 'com.apple.mgmt.External.x',
    ServerURL: 'https://mdm.example.com/server',
    ...overrides,
  };
}

const kinds = (violations: SchemaViolation[]) => violations.map((v) => `${v.path}:${v.kind}`);

describe('apple-schema validator: it must catch what it claims to catch', () => {
  it('loads the vendored schema set', () => {
    expect(appleSchemaDir()).to.match(/apple-device-management$/);
    expect(listPayloadTypes()).to.include.members(['com.apple.mdm', 'com.apple.security.scep']);
    expect(listPayloadTypes()).not.to.include('TopLevel');
    expect(listRequestTypes()).to.include.members(['DeviceInformation', 'EraseDevice', 'InstallProfile']);
    expect(listCheckinMessageTypes()).to.include.members([
      'Authenticate',
      'TokenUpdate',
      'CheckOut',
      'UserAuthenticate',
    ]);
  });

  it('a minimal valid payload passes (baseline for the negatives below)', () => {
    expect(validatePayload('com.apple.mdm', mdmPayload())).to.deep.equal([]);
  });

  it('catches a wrong type', () => {
    expect(kinds(validatePayload('com.apple.mdm', mdmPayload({ SignMessage: 'true' })))).to.deep.equal([
      'SignMessage:wrong-type',
    ]);
    expect(kinds(validatePayload('com.apple.mdm', mdmPayload({ AccessRights: 1.5 })))).to.deep.equal([
      'AccessRights:wrong-type',
    ]);
    expect(
      kinds(
        validatePayload('com.apple.security.root', {
          PayloadType: 'com.apple.security.root',
          PayloadVersion: 1,
          PayloadIdentifier: 'a.b',
          PayloadUUID: UUID,
          PayloadContent: 'MIIB',
        }),
      ),
    ).to.deep.equal(['PayloadContent:wrong-type']);
  });

  it('catches an unknown key, including nested ones', () => {
    expect(kinds(validatePayload('com.apple.mdm', mdmPayload({ ServerUrl: 'https://typo' })))).to.deep.equal([
      'ServerUrl:unknown-key',
    ]);
    const scep = {
      PayloadType: 'com.apple.security.scep',
      PayloadVersion: 1,
      PayloadIdentifier: 'a.scep',
      PayloadUUID: UUID,
      PayloadContent: { URL: 'https://x/scep', KeySize: 2048 },
    };
    expect(kinds(validatePayload('com.apple.security.scep', scep))).to.deep.equal([
      'PayloadContent.KeySize:unknown-key',
    ]);
  });

  it('catches a missing required key (top level, common keys, nested)', () => {
    const { Topic: _topic, PayloadUUID: _uuid, ...rest } = mdmPayload();
    expect(kinds(validatePayload('com.apple.mdm', rest)).sort()).to.deep.equal([
      'PayloadUUID:missing-key',
      'Topic:missing-key',
    ]);
    const scep = {
      PayloadType: 'com.apple.security.scep',
      PayloadVersion: 1,
      PayloadIdentifier: 'a',
      PayloadUUID: UUID,
      PayloadContent: { Challenge: 'x' },
    };
    expect(kinds(validatePayload('com.apple.security.scep', scep))).to.deep.equal(['PayloadContent.URL:missing-key']);
    expect(kinds(validateCommand('RemoveProfile', { RequestType: 'RemoveProfile' }))).to.deep.equal([
      'Identifier:missing-key',
    ]);
    expect(kinds(validateCheckin('Authenticate', { MessageType: 'Authenticate', UDID: 'x' }))).to.deep.equal([
      'Topic:missing-key',
    ]);
  });

  it('catches values outside rangelist, format and range; wrong array cardinality', () => {
    expect(kinds(validatePayload('com.apple.mdm', mdmPayload({ ServerURL: 'http://plain' })))).to.deep.equal([
      'ServerURL:format',
    ]);
    expect(kinds(validatePayload('com.apple.mdm', mdmPayload({ PayloadVersion: 2 })))).to.deep.equal([
      'PayloadVersion:not-in-rangelist',
    ]);
    expect(
      kinds(validatePayload('com.apple.mdm', mdmPayload({ ServerCapabilities: ['com.apple.mdm.nope'] }))),
    ).to.deep.equal(['ServerCapabilities[0]:not-in-rangelist']);
    expect(
      kinds(
        validateCommand('InstallApplication', {
          RequestType: 'InstallApplication',
          iTunesStoreID: 1,
          ManagementFlags: 2,
        }),
      ),
    ).to.deep.equal(['ManagementFlags:not-in-rangelist']);
    const scep = (Subject: unknown) => ({
      PayloadType: 'com.apple.security.scep',
      PayloadVersion: 1,
      PayloadIdentifier: 'a',
      PayloadUUID: UUID,
      PayloadContent: { URL: 'https://x', Subject },
    });
    expect(kinds(validatePayload('com.apple.security.scep', scep([[['CN']]])))).to.deep.equal([
      'PayloadContent.Subject[0][0]:repetition',
    ]);
    expect(kinds(validatePayload('com.apple.security.scep', scep([['CN', 'x']])))).to.deep.equal([
      'PayloadContent.Subject[0][0]:wrong-type',
      'PayloadContent.Subject[0][1]:wrong-type',
    ]);
    const sso = {
      PayloadType: 'com.apple.extensiblesso',
      PayloadVersion: 1,
      PayloadIdentifier: 'a.sso',
      PayloadUUID: UUID,
      ExtensionIdentifier: 'com.example.sso',
      Type: 'Redirect',
      PlatformSSO: { LoginFrequency: 60 },
    };
    expect(kinds(validatePayload('com.apple.extensiblesso', sso, { os: 'macOS' }))).to.deep.equal([
      'PlatformSSO.LoginFrequency:out-of-range',
    ]);
  });

  it('checks enumerated scalar values (DeviceInformation Queries) and their availability', () => {
    const command = (Queries: unknown) => ({ RequestType: 'DeviceInformation', Queries });
    expect(kinds(validateCommand('DeviceInformation', command(['OSVersion', 'NoSuchQuery'])))).to.deep.equal([
      'Queries[1]:not-in-rangelist',
    ]);
    expect(kinds(validateCommand('DeviceInformation', command(['ProvisioningUDID'])))).to.deep.equal([
      'Queries[0]:unsupported',
    ]);
    expect(validateCommand('DeviceInformation', command(['ProvisioningUDID']), { os: 'macOS' })).to.deep.equal([]);
  });

  it('honours supportedOS: platform, OS version, enrollment type, channel', () => {
    // ManagedAppleID: iOS 13.1 - removed in 18.0, User Enrollment only.
    const withId = mdmPayload({ ManagedAppleID: 'alice@example.com' });
    expect(kinds(validatePayload('com.apple.mdm', withId, { os: 'iOS', enrollment: 'device' }))).to.deep.equal([
      'ManagedAppleID:unsupported',
    ]);
    expect(
      validatePayload('com.apple.mdm', withId, { os: 'iOS', enrollment: 'user', osVersion: '17.0' }),
    ).to.deep.equal([]);
    expect(
      kinds(validatePayload('com.apple.mdm', withId, { os: 'iOS', enrollment: 'user', osVersion: '18.0' })),
    ).to.deep.equal(['ManagedAppleID:unsupported']);
    // Required keys that do not apply in the context are not demanded: TokenUpdate's UDID under User Enrollment.
    const tu = { MessageType: 'TokenUpdate', Topic: 't', EnrollmentID: 'e', Token: Buffer.from([1]), PushMagic: 'p' };
    expect(validateCheckin('TokenUpdate', tu, { enrollment: 'user' })).to.deep.equal([]);
    expect(kinds(validateCheckin('TokenUpdate', tu, { enrollment: 'device' })).sort()).to.deep.equal([
      'EnrollmentID:unsupported',
      'UDID:missing-key',
    ]);
    // UserAuthenticate does not exist on iOS at all.
    expect(kinds(validateCheckin('UserAuthenticate', { MessageType: 'UserAuthenticate' }))).to.deep.equal([
      ':unsupported',
    ]);
  });

  it('validates profiles recursively and the command envelope', () => {
    const profile = {
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.p',
      PayloadUUID: UUID,
      PayloadContent: [mdmPayload({ SignMessage: 1 }), { PayloadType: 'com.example.unknown' }],
    };
    expect(kinds(validateProfile(profile))).to.deep.equal([
      'PayloadContent[0].SignMessage:wrong-type',
      'PayloadContent[1]:unknown-schema',
    ]);
    expect(kinds(validateCommandEnvelope({ Command: { RequestType: 'SecurityInfo' }, Extra: 1 }))).to.deep.equal([
      'CommandUUID:missing-key',
      'Extra:unknown-key',
    ]);
    expect(kinds(validateCommand('DeviceLock', { RequestType: 'DeviceInformation' }))).to.deep.equal([
      'RequestType:missing-key',
    ]);
    expect(kinds(validateCommand('NoSuchCommand', {}))).to.deep.equal([':unknown-schema']);
  });

  it('validates responses, optionally without presence checks', () => {
    const apps = { ManagedApplicationList: { 'com.x': { Status: 'Managed', ManagementFlags: 1 } } };
    const strict = kinds(validateCommandResponse('ManagedApplicationList', apps));
    expect(strict).to.include('ManagedApplicationList.com.x.HasFeedback:missing-key');
    expect(validateCommandResponse('ManagedApplicationList', apps, { checkRequired: false })).to.deep.equal([]);
    const bad = { ManagedApplicationList: { 'com.x': { Status: 'Installed', ManagementFlags: '1' } } };
    expect(kinds(validateCommandResponse('ManagedApplicationList', bad, { checkRequired: false }))).to.deep.equal([
      'ManagedApplicationList.com.x.Status:not-in-rangelist',
      'ManagedApplicationList.com.x.ManagementFlags:wrong-type',
    ]);
  });

  it('honours APPLE_SCHEMA_DIR', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'apple-schema-'));
    const previous = process.env.APPLE_SCHEMA_DIR;
    try {
      for (const sub of ['mdm/profiles', 'mdm/commands', 'mdm/checkin'])
        mkdirSync(path.join(dir, sub), { recursive: true });
      writeFileSync(
        path.join(dir, 'mdm/profiles/x.yaml'),
        [
          'title: X',
          'payload:',
          '  payloadtype: com.example.x',
          '  supportedOS:',
          '    iOS:',
          "      introduced: '1.0'",
          'payloadkeys:',
          '- key: Flag',
          '  type: <boolean>',
          '  presence: required',
        ].join('\n'),
      );
      writeFileSync(
        path.join(dir, 'mdm/profiles/CommonPayloadKeys.yaml'),
        [
          'title: Common',
          'payload:',
          '  payloadtype: CommonPayloadKeys',
          'payloadkeys:',
          '- key: PayloadType',
          '  type: <string>',
          '  presence: required',
        ].join('\n'),
      );
      process.env.APPLE_SCHEMA_DIR = dir;
      expect(listPayloadTypes()).to.deep.equal(['com.example.x']);
      expect(kinds(validatePayload('com.example.x', { PayloadType: 'com.example.x', Flag: 1 }))).to.deep.equal([
        'Flag:wrong-type',
      ]);
    } finally {
      if (previous === undefined) delete process.env.APPLE_SCHEMA_DIR;
      else process.env.APPLE_SCHEMA_DIR = previous;
      rmSync(dir, { recursive: true, force: true });
    }
    expect(listPayloadTypes()).to.include('com.apple.mdm');
  });
});
