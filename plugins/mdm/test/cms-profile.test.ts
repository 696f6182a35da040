import { X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import {
  CmsVerificationError,
  createProfileSigner,
  issueSigningCertificate,
  signProfile,
  verifyAttachedSignature,
} from '../src/pki/index.js';
import { impostorCa, openssl, testCa } from './pki-fixtures.js';

function profileOfSize(bytes: number): Buffer {
  const head = '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>PayloadContent</key><string>';
  const tail = '</string><key>PayloadDisplayName</key><string>Enrollment – test ✓</string></dict></plist>\n';
  return Buffer.from(head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length - 4)) + tail, 'utf8');
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(CmsVerificationError);
    return (error as CmsVerificationError).reason;
  }
  throw new Error('expected a CmsVerificationError');
}

describe('cms profile signing', () => {
  const { pems, ca } = testCa();
  const signer = issueSigningCertificate(ca, { commonName: 'Profile Signing', validityDays: 365 });
  const profile = profileOfSize(4096);

  it('round-trips: signed profile verifies and returns the exact bytes and signer', () => {
    const der = signProfile(profile, signer.certPem, signer.keyPem, [pems.certPem]);
    const { content, signerCertDer } = verifyAttachedSignature(der, { caCertPem: pems.certPem });
    expect(content.equals(profile)).to.equal(true);
    expect(signerCertDer.equals(new X509Certificate(signer.certPem).raw)).to.equal(true);
  });

  it('is accepted by OpenSSL (cms -verify and smime -verify against the CA)', () => {
    const der = signProfile(profile, signer.certPem, signer.keyPem, [pems.certPem]);
    const files = { 'profile.der': der, 'ca.pem': pems.certPem };
    const viaCms = openssl(
      ['cms', '-verify', '-inform', 'DER', '-in', 'profile.der', '-CAfile', 'ca.pem', '-binary'],
      files,
    );
    expect(viaCms.stdout.equals(profile)).to.equal(true);
    const viaSmime = openssl(
      ['smime', '-verify', '-inform', 'DER', '-in', 'profile.der', '-CAfile', 'ca.pem', '-binary'],
      files,
    );
    expect(viaSmime.stdout.equals(profile)).to.equal(true);
    const printed = openssl(
      ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'profile.der'],
      files,
    ).stdout.toString();
    expect(printed).to.match(/contentType/);
    expect(printed).to.match(/signingTime/);
    expect(printed).to.match(/messageDigest/);
  });

  it('verifies a profile signed by OpenSSL (interop in the other direction)', () => {
    const files = { 'p.plist': profile, 's.pem': signer.certPem, 'k.pem': signer.keyPem };
    const der = openssl(
      [
        'cms',
        '-sign',
        '-binary',
        '-nodetach',
        '-md',
        'sha256',
        '-in',
        'p.plist',
        '-signer',
        's.pem',
        '-inkey',
        'k.pem',
        '-outform',
        'DER',
      ],
      files,
    ).stdout;
    const { content } = verifyAttachedSignature(der, { caCertPem: pems.certPem });
    expect(content.equals(profile)).to.equal(true);
  });

  it('detects tampering with the content', () => {
    const der = signProfile(profile, signer.certPem, signer.keyPem);
    const at = der.indexOf(Buffer.from('xxxxxxxx'));
    der[at] = 'y'.charCodeAt(0);
    expect(reason(() => verifyAttachedSignature(der))).to.equal('digest-mismatch');
  });

  it('detects tampering with the signature', () => {
    const der = signProfile(profile, signer.certPem, signer.keyPem);
    der[der.length - 10] ^= 0xff; // the signature OCTET STRING is the last field
    expect(reason(() => verifyAttachedSignature(der))).to.equal('bad-signature');
  });

  it('rejects a signer from another CA when a CA is required', () => {
    const foreign = issueSigningCertificate(impostorCa(), { commonName: 'Profile Signing', validityDays: 365 });
    const der = signProfile(profile, foreign.certPem, foreign.keyPem);
    expect(verifyAttachedSignature(der).content.equals(profile)).to.equal(true);
    expect(reason(() => verifyAttachedSignature(der, { caCertPem: pems.certPem }))).to.equal('untrusted');
  });

  it('a prepared signer produces independently valid signatures', () => {
    const prepared = createProfileSigner({ certPem: signer.certPem, key: signer.keyPem, chainPems: [pems.certPem] });
    const first = prepared.sign(profile);
    const second = prepared.sign(profileOfSize(100));
    expect(verifyAttachedSignature(first, { caCertPem: pems.certPem }).content.equals(profile)).to.equal(true);
    expect(verifyAttachedSignature(second, { caCertPem: pems.certPem }).content.length).to.be.greaterThan(90);
  });

  it('rejects garbage', () => {
    expect(reason(() => verifyAttachedSignature(Buffer.from('not a signature at all')))).to.equal('malformed');
  });
});
