import { expect } from 'chai';
import { evaluate, statusItem } from '../src/policy.js';
import { isOlder, osVersionSchema, platformOf, versionKey } from '../src/versions.js';

describe('compliance: versions and evaluation', () => {
  const policy = { minimumIosVersion: '17.5', minimumIpadosVersion: null, blockEnrollmentWhenNonCompliant: false };

  it('orders versions numerically, missing parts counting as zero', () => {
    expect(isOlder('17.4.1', '17.5')).to.equal(true);
    expect(isOlder('17.5', '17.5.0')).to.equal(false);
    expect(isOlder('17.10', '17.9')).to.equal(false);
    expect(isOlder('9.3.5', '17')).to.equal(true);
    expect(versionKey('17.4.1')).to.equal(170401);
  });

  it('accepts only dotted versions with one to three parts', () => {
    for (const ok of ['17', '17.5', '17.5.1']) expect(osVersionSchema.safeParse(ok).success, ok).to.equal(true);
    for (const bad of ['', '17.', 'v17', '17.5.1.2', ' 17.5', '170.1', '17.5-beta'])
      expect(osVersionSchema.safeParse(bad).success, bad).to.equal(false);
  });

  it('tells iOS from iPadOS by the hardware model code', () => {
    expect(platformOf('iPhone15,4')).to.equal('iOS');
    expect(platformOf('iPod9,1')).to.equal('iOS');
    expect(platformOf('iPad13,18')).to.equal('iPadOS');
    expect(platformOf('Mac14,2')).to.equal(undefined);
    expect(platformOf(undefined)).to.equal(undefined);
  });

  it('says nothing where no minimum applies, "Checking" until the device reports, then the verdict', () => {
    expect(evaluate(policy, { platform: 'iPadOS', osVersion: '15.0' }).state).to.equal('not-evaluated');
    expect(statusItem(evaluate(policy, { platform: 'iPadOS', osVersion: '15.0' }))).to.equal(undefined);
    expect(statusItem(evaluate(policy, {}))).to.deep.equal({ label: 'Compliance', value: 'Checking', tone: 'info' });
    expect(statusItem(evaluate(policy, { platform: 'iOS', osVersion: '17.4.1' }))).to.deep.equal({
      label: 'Compliance',
      value: 'Not compliant',
      tone: 'critical',
      action: 'Update iOS to 17.5 or later',
    });
    expect(statusItem(evaluate(policy, { platform: 'iOS', osVersion: '18.0' }))?.value).to.equal('Compliant');
    const none = { ...policy, minimumIosVersion: null };
    expect(evaluate(none, {}).state, 'no minimum at all').to.equal('not-evaluated');
  });
});
