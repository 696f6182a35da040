import { expect } from 'chai';
import { parse as parsePlist } from 'plist';
import { formatViolations, validateProfile } from '../../../test/support/apple-schema.js';
import { jitConfigSchema } from '../src/config.js';
import { defaultSsoPolicy, NATIONAL_CLOUD_URLS, ssoPolicySchema } from '../src/sso-policy.js';
import { buildSsoProfile, PaddedValueError } from '../src/sso-profile.js';

const options = { identifierBase: 'com.example.jit', organization: 'Example' };

describe('jit-registration: SSO profile and policy', () => {
  it('adds the national-cloud URLs only when enabled, and the profile stays schema-valid', () => {
    const global = defaultSsoPolicy(jitConfigSchema.parse({}));
    const national = defaultSsoPolicy(jitConfigSchema.parse({ nationalClouds: true }));
    expect(global.urls).to.have.length(3);
    expect(national.urls).to.include.members([...NATIONAL_CLOUD_URLS]);
    for (const policy of [global, national]) {
      const profile = buildSsoProfile(policy, options);
      expect(profile.identifier).to.equal('com.example.jit.sso');
      const parsed = parsePlist(profile.bytes.toString('utf8'));
      expect(parsed).to.deep.equal(profile.dict);
      expect(formatViolations(validateProfile(parsed))).to.equal('');
    }
  });

  it('keeps PayloadUUIDs stable across builds', () => {
    const policy = defaultSsoPolicy(jitConfigSchema.parse({}));
    expect(buildSsoProfile(policy, options).dict.PayloadUUID).to.equal(
      buildSsoProfile(policy, options).dict.PayloadUUID,
    );
  });

  it('refuses padded keys and values even when they bypass the policy schema', () => {
    const policy = defaultSsoPolicy(jitConfigSchema.parse({}));
    expect(() => buildSsoProfile({ ...policy, urls: ['https://sts.windows.net '] }, options)).to.throw(
      PaddedValueError,
      /URLs\[0\]/,
    );
    expect(() => buildSsoProfile({ ...policy, additionalExtensionData: { 'x ': 1 } }, options)).to.throw(
      PaddedValueError,
    );
    expect(ssoPolicySchema.safeParse({ ...policy, appPrefixAllowList: ' com.apple.' }).success).to.equal(false);
    expect(
      ssoPolicySchema.safeParse({ ...policy, additionalExtensionData: { device_registration: 'x' } }).success,
    ).to.equal(false);
  });
});
