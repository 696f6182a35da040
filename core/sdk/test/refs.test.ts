import { expect } from 'chai';
import { createServiceRef } from 'enrollment-gateway/sdk';

describe('sdk refs', () => {
  it('refuses malformed service ids', () => {
    expect(() => createServiceRef('Bad Id')).to.throw(/invalid service id/);
    expect(createServiceRef('mdm.commands').id).to.equal('mdm.commands');
  });
});
