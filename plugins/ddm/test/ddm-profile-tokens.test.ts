import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import {
  MAX_TOKEN_LENGTH,
  type ProfileClaims,
  profileDigest,
  profileToken,
  readProfileToken,
} from '../src/protocol/profile-tokens.js';

describe('ddm: legacy profile URL tokens', () => {
  const key = randomBytes(32);
  const claims: ProfileClaims = {
    deviceId: 'dev-1',
    enrollmentId: 'enr-1',
    identifier: 'web-clip.profile',
    digest: profileDigest(Buffer.from('<plist/>')),
  };

  it('is deterministic, and reads back its claims with the same key only', () => {
    const token = profileToken(key, claims);
    expect(profileToken(key, claims)).to.equal(token);
    expect(token).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(readProfileToken(key, token)).to.deep.equal(claims);
    expect(readProfileToken(randomBytes(32), token)).to.equal(undefined);
  });

  it('changes with every claim: device, enrollment, identifier and content', () => {
    const token = profileToken(key, claims);
    const others: ProfileClaims[] = [
      { ...claims, deviceId: 'dev-2' },
      { ...claims, enrollmentId: 'enr-2' },
      { ...claims, identifier: 'jit-registration.sso-profile' },
      { ...claims, digest: profileDigest(Buffer.from('<plist><dict/></plist>')) },
    ];
    for (const other of others) expect(profileToken(key, other)).to.not.equal(token);
  });

  it('refuses tampered, swapped, malformed and oversized tokens', () => {
    const [body, mac] = profileToken(key, claims).split('.');
    const [otherBody] = profileToken(key, { ...claims, deviceId: 'dev-2' }).split('.');
    const notClaims = Buffer.from(JSON.stringify({ deviceId: 'dev-1' })).toString('base64url');
    for (const bad of [
      `${otherBody}.${mac}`,
      `${body}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`,
      `${notClaims}.${mac}`,
      `${Buffer.from('{').toString('base64url')}.${mac}`,
      body,
      '',
      `${body}.${mac}.x`,
      `${'A'.repeat(MAX_TOKEN_LENGTH)}.${mac}`,
    ]) {
      expect(readProfileToken(key, bad), bad.slice(0, 30)).to.equal(undefined);
    }
  });
});
