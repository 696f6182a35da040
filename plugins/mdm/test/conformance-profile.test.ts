import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import {
  formatViolations,
  listPayloadTypes,
  validatePayload,
  validateProfile,
} from '../../../test/support/apple-schema.js';
import {
  ACCESS_RIGHTS,
  buildEnrollmentProfile,
  buildPlist,
  type EnrollmentProfileInput,
  type PayloadDict,
  ProfileBuildError,
  parseDevicePlist,
  USER_OWNED_ACCESS_RIGHTS,
} from '../src/protocol/index.js';

let caDer: Buffer;

function input(overrides: Partial<EnrollmentProfileInput> = {}): EnrollmentProfileInput {
  return {
    identifier: 'com.example.gateway.enrollment',
    displayName: 'Example device enrollment',
    organization: 'Example Corp',
    description: 'Lets Example Corp manage work apps and settings on this device.',
    rootCertificate: { der: caDer },
    scep: {
      url: 'https://gateway.example.com/scep',
      challenge: 'c2d7f1e0a9b84f33',
      subject: [
        ['O', 'Example Corp'],
        ['CN', 'enrollment-4711'],
      ],
      caIdentifier: 'gateway',
    },
    mdm: {
      serverUrl: 'https://gateway.example.com/mdm/server',
      checkInUrl: 'https://gateway.example.com/mdm/checkin',
      topic: 'com.apple.mgmt.External.3b5f0c1e-7d2a-4e4b-9f7a-2f0b6f1d9a11',
    },
    ...overrides,
  };
}

const payloadsOf = (profile: { PayloadContent: PayloadDict[] }) =>
  Object.fromEntries(profile.PayloadContent.map((p) => [p.PayloadType as string, p]));

describe('conformance: enrollment profile vs mdm/profiles/*.yaml', () => {
  before(() => {
    // Any real CA certificate will do: reuse the run's test CA (scripts/test.ts creates it).
    caDer = new X509Certificate(readFileSync(path.join(process.env.TEST_CA_DIR ?? '', 'ca.pem'))).raw;
  });

  it('the test CA is a real certificate', () => {
    expect(new X509Certificate(caDer).ca).to.equal(true);
  });

  it('the whole profile and every payload have zero violations (iOS 17, device enrollment)', () => {
    const profile = buildEnrollmentProfile(input());
    const violations = validateProfile(profile, { os: 'iOS', osVersion: '17.4' });
    expect(violations, formatViolations(violations)).to.deep.equal([]);
    for (const payload of profile.PayloadContent) {
      const own = validatePayload(payload.PayloadType as string, payload, { os: 'iOS' });
      expect(own, formatViolations(own)).to.deep.equal([]);
    }
  });

  it('still conforms after serializing to XML and parsing back', () => {
    const back = parseDevicePlist(buildPlist(buildEnrollmentProfile(input())));
    const violations = validateProfile(back, { os: 'iOS', osVersion: '17.4' });
    expect(violations, formatViolations(violations)).to.deep.equal([]);
  });

  it('wires the payloads together as Apple requires', () => {
    const profile = buildEnrollmentProfile(input());
    expect(profile).to.deep.include({
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.gateway.enrollment',
      PayloadRemovalDisallowed: false,
      PayloadScope: 'System',
      PayloadOrganization: 'Example Corp',
    });
    const p = payloadsOf(profile);
    expect(Object.keys(p)).to.deep.equal(['com.apple.security.root', 'com.apple.security.scep', 'com.apple.mdm']);
    expect((p['com.apple.security.root'].PayloadContent as Buffer).equals(caDer)).to.equal(true);
    const scep = p['com.apple.security.scep'].PayloadContent as Record<string, unknown>;
    expect(scep).to.deep.include({
      URL: 'https://gateway.example.com/scep',
      Challenge: 'c2d7f1e0a9b84f33',
      Keysize: 2048,
      'Key Type': 'RSA',
      'Key Usage': 5,
      Name: 'gateway',
    });
    expect(scep.Subject).to.deep.equal([[['O', 'Example Corp']], [['CN', 'enrollment-4711']]]);
    const mdm = p['com.apple.mdm'];
    expect(mdm.IdentityCertificateUUID).to.equal(p['com.apple.security.scep'].PayloadUUID);
    expect(mdm).to.deep.include({
      SignMessage: true,
      CheckOutWhenRemoved: true,
      AccessRights: USER_OWNED_ACCESS_RIGHTS,
    });
    expect(mdm.ServerCapabilities).to.equal(undefined);
    expect((mdm.AccessRights as number) & ACCESS_RIGHTS.eraseDevice).to.equal(0);
    const uuids = [profile.PayloadUUID, ...profile.PayloadContent.map((x) => x.PayloadUUID)];
    expect(new Set(uuids).size).to.equal(4);
  });

  it('includes plugin-contributed payloads, filling PayloadVersion/PayloadUUID, and they conform too', () => {
    const webClip = {
      PayloadType: 'com.apple.webClip.managed',
      PayloadIdentifier: 'com.example.gateway.webclip.portal',
      PayloadDisplayName: 'Company portal',
      URL: 'https://portal.example.com/',
      Label: 'Portal',
      IsRemovable: true,
      FullScreen: false,
    };
    const profile = buildEnrollmentProfile(input({ extraPayloads: [webClip] }));
    const added = profile.PayloadContent[3];
    expect(added.PayloadVersion).to.equal(1);
    expect(added.PayloadUUID).to.match(/^[0-9A-F-]{36}$/);
    const violations = validateProfile(profile, { os: 'iOS', osVersion: '17.4' });
    expect(violations, formatViolations(violations)).to.deep.equal([]);
  });

  it('rejects contributed payloads that collide or try to replace the MDM payload', () => {
    const dup = {
      PayloadType: 'com.apple.webClip.managed',
      PayloadIdentifier: 'com.example.gateway.enrollment.mdm',
      URL: 'https://x/',
      Label: 'x',
    };
    expect(() => buildEnrollmentProfile(input({ extraPayloads: [dup] }))).to.throw(
      ProfileBuildError,
      /duplicate PayloadIdentifier/,
    );
    const second = { PayloadType: 'com.apple.mdm', PayloadIdentifier: 'com.evil.mdm' };
    expect(() => buildEnrollmentProfile(input({ extraPayloads: [second] }))).to.throw(
      ProfileBuildError,
      /com.apple.mdm/,
    );
    expect(() => buildEnrollmentProfile(input({ extraPayloads: [{ PayloadIdentifier: 'x.y' }] }))).to.throw(
      ProfileBuildError,
      /PayloadType/,
    );
  });

  it('enforces AccessRights rules: no erase, 2 needs 1, 128 needs 64, not 0', () => {
    const withRights = (accessRights: number) =>
      buildEnrollmentProfile(input({ mdm: { ...input().mdm, accessRights } }));
    expect(() => withRights(USER_OWNED_ACCESS_RIGHTS | ACCESS_RIGHTS.eraseDevice)).to.throw(ProfileBuildError, /erase/);
    expect(() => withRights(ACCESS_RIGHTS.installRemoveProfiles)).to.throw(ProfileBuildError, /requires 1/);
    expect(() => withRights(1 | 128)).to.throw(ProfileBuildError, /128 requires 64/);
    expect(() => withRights(0)).to.throw(ProfileBuildError);
    expect(() => withRights(1 << 13)).to.throw(ProfileBuildError);
    expect(withRights(1 | 16).PayloadContent[2].AccessRights).to.equal(17);
  });

  it('refuses non-https MDM URLs, a foreign topic, PEM instead of DER', () => {
    expect(() =>
      buildEnrollmentProfile(input({ mdm: { ...input().mdm, serverUrl: 'http://gateway.example.com/mdm' } })),
    ).to.throw(ProfileBuildError, /ServerURL/);
    expect(() => buildEnrollmentProfile(input({ mdm: { ...input().mdm, topic: 'com.example.push' } }))).to.throw(
      ProfileBuildError,
      /Topic/,
    );
    const pem = Buffer.from(`-----BEGIN CERTIFICATE-----\n${caDer.toString('base64')}\n-----END CERTIFICATE-----\n`);
    expect(() => buildEnrollmentProfile(input({ rootCertificate: { der: pem } }))).to.throw(ProfileBuildError, /DER/);
  });

  it('opt-in server capabilities are emitted and schema-valid', () => {
    const profile = buildEnrollmentProfile(
      input({ mdm: { ...input().mdm, serverCapabilities: ['com.apple.mdm.per-user-connections'] } }),
    );
    expect(payloadsOf(profile)['com.apple.mdm'].ServerCapabilities).to.deep.equal([
      'com.apple.mdm.per-user-connections',
    ]);
    expect(validateProfile(profile, { os: 'iOS' })).to.deep.equal([]);
  });

  it('the schema set covers every payload type the gateway and its plugins emit', () => {
    const types = listPayloadTypes();
    for (const t of [
      'com.apple.mdm',
      'com.apple.security.scep',
      'com.apple.security.root',
      'com.apple.extensiblesso',
      'com.apple.webClip.managed',
    ]) {
      expect(types, t).to.include(t);
    }
  });
});
