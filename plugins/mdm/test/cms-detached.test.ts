import { expect } from 'chai';
import {
  CmsVerificationError,
  createSelfSignedCertificate,
  issueSigningCertificate,
  MAX_UNTRUSTED_DER_BYTES,
  signDetached,
  summarizeCertificate,
  verifyDetachedSignature,
} from '../src/pki/index.js';
import { deviceIdentity, impostorCa, newRsaKeyPair, openssl, testCa } from './pki-fixtures.js';

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(CmsVerificationError);
    return (error as CmsVerificationError).reason;
  }
  throw new Error('expected a CmsVerificationError');
}

describe('cms detached Mdm-Signature verification', () => {
  const { pems, ca } = testCa();
  const device = deviceIdentity(ca);
  const body = Buffer.from(
    '<?xml version="1.0"?><plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string></dict></plist>',
  );
  const options = { caCertPem: pems.certPem };

  it('accepts a SHA-256 signature and identifies the device certificate', () => {
    const header = signDetached(body, device.certPem, device.keyPem);
    const signer = verifyDetachedSignature(header, body, options);
    const summary = summarizeCertificate(device.certPem);
    expect(signer.fingerprintSha256).to.equal(summary.fingerprintSha256);
    expect(signer.serialHex).to.equal(summary.serialHex);
    expect(signer.notAfter.getTime()).to.equal(summary.notAfter.getTime());
    expect(signer.subject).to.equal('CN=device-identity');
  });

  it('accepts a SHA-1 signature (older devices)', () => {
    const header = signDetached(body, device.certPem, device.keyPem, { digest: 'sha1' });
    expect(verifyDetachedSignature(header, body, options).fingerprintSha256).to.equal(
      summarizeCertificate(device.certPem).fingerprintSha256,
    );
  });

  it('accepts a detached signature produced by OpenSSL, with line-wrapped base64', () => {
    for (const md of ['sha1', 'sha256']) {
      const der = openssl(
        ['cms', '-sign', '-binary', '-md', md, '-in', 'body', '-signer', 'c.pem', '-inkey', 'k.pem', '-outform', 'DER'],
        { body, 'c.pem': device.certPem, 'k.pem': device.keyPem },
      ).stdout;
      const wrapped = der.toString('base64').replace(/.{64}/g, '$&\n');
      expect(verifyDetachedSignature(wrapped, body, options).subject).to.equal('CN=device-identity');
    }
  });

  it('produces headers OpenSSL verifies as detached signatures', () => {
    const header = signDetached(body, device.certPem, device.keyPem);
    const out = openssl(
      [
        'cms',
        '-verify',
        '-binary',
        '-inform',
        'DER',
        '-in',
        'sig.der',
        '-content',
        'body',
        '-CAfile',
        'ca.pem',
        '-purpose',
        'sslclient',
      ],
      { 'sig.der': Buffer.from(header, 'base64'), body, 'ca.pem': pems.certPem },
    );
    expect(out.stdout.equals(body)).to.equal(true);
  });

  it('digest-mismatch: body changed after signing', () => {
    const header = signDetached(body, device.certPem, device.keyPem);
    expect(reason(() => verifyDetachedSignature(header, Buffer.concat([body, Buffer.from(' ')]), options))).to.equal(
      'digest-mismatch',
    );
  });

  it('bad-signature: attributes signed by a key other than the certificate key (forged)', () => {
    const attacker = newRsaKeyPair();
    const header = signDetached(body, device.certPem, attacker.privateKey);
    expect(reason(() => verifyDetachedSignature(header, body, options))).to.equal('bad-signature');
  });

  it('untrusted: certificate from another CA with an identical name', () => {
    const foreign = deviceIdentity(impostorCa());
    const header = signDetached(body, foreign.certPem, foreign.keyPem);
    expect(reason(() => verifyDetachedSignature(header, body, options))).to.equal('untrusted');
  });

  it('untrusted: self-signed certificate', () => {
    const keyPair = newRsaKeyPair();
    const self = createSelfSignedCertificate({
      subject: [{ type: 'CN', value: 'Test Gateway CA' }],
      ...keyPair,
      validityDays: 1,
    });
    const header = signDetached(body, self.certPem, keyPair.privateKey);
    expect(reason(() => verifyDetachedSignature(header, body, options))).to.equal('untrusted');
  });

  it('expired: outside the certificate validity', () => {
    const header = signDetached(body, device.certPem, device.keyPem);
    const later = new Date(Date.now() + 400 * 24 * 3600 * 1000);
    expect(reason(() => verifyDetachedSignature(header, body, { ...options, now: later }))).to.equal('expired');
    const earlier = new Date(Date.now() - 24 * 3600 * 1000);
    expect(reason(() => verifyDetachedSignature(header, body, { ...options, now: earlier }))).to.equal('expired');
  });

  it('a certificate verified once is still checked per request: signature, validity and the CA it was verified under', () => {
    const header = signDetached(body, device.certPem, device.keyPem);
    expect(verifyDetachedSignature(header, body, options).subject).to.equal('CN=device-identity');
    // The chain check is remembered for this certificate and CA only: another CA still refuses it.
    expect(reason(() => verifyDetachedSignature(header, body, { caCertPem: impostorCa().certPem }))).to.equal(
      'untrusted',
    );
    const forged = signDetached(body, device.certPem, newRsaKeyPair().privateKey);
    expect(reason(() => verifyDetachedSignature(forged, body, options))).to.equal('bad-signature');
    const later = new Date(Date.now() + 400 * 24 * 3600 * 1000);
    expect(reason(() => verifyDetachedSignature(header, body, { ...options, now: later }))).to.equal('expired');
    expect(verifyDetachedSignature(header, body, options).fingerprintSha256).to.equal(
      summarizeCertificate(device.certPem).fingerprintSha256,
    );
  });

  it('not-client-auth: a CA-issued certificate without the clientAuth EKU', () => {
    const signing = issueSigningCertificate(ca, { commonName: 'not a device', validityDays: 30 });
    const header = signDetached(body, signing.certPem, signing.keyPem);
    expect(reason(() => verifyDetachedSignature(header, body, options))).to.equal('not-client-auth');
  });

  it('too-large and malformed inputs are refused before any crypto', () => {
    const huge = Buffer.alloc(MAX_UNTRUSTED_DER_BYTES + 1, 0x30).toString('base64');
    expect(reason(() => verifyDetachedSignature(huge, body, options))).to.equal('too-large');
    expect(reason(() => verifyDetachedSignature('not base64 !!', body, options))).to.equal('malformed');
    expect(reason(() => verifyDetachedSignature('', body, options))).to.equal('malformed');
    expect(
      reason(() => verifyDetachedSignature(Buffer.from('hello world, not DER').toString('base64'), body, options)),
    ).to.equal('malformed');
    // Valid DER but not a SignedData.
    expect(
      reason(() =>
        verifyDetachedSignature(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]).toString('base64'), body, options),
      ),
    ).to.equal('malformed');
  });

  it('malformed: pathological nesting and lying lengths', () => {
    // 2000 nested SEQUENCEs with indefinite length: small input, deep recursion if parsed naively.
    const deep = Buffer.concat([Buffer.alloc(4000, 0).fill(Buffer.from([0x30, 0x80])), Buffer.alloc(4000, 0)]);
    expect(reason(() => verifyDetachedSignature(deep.toString('base64'), body, options))).to.equal('malformed');
    const lying = Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00]);
    expect(reason(() => verifyDetachedSignature(lying.toString('base64'), body, options))).to.equal('malformed');
  });

  it('malformed: truncated and bit-flipped real signatures never crash', () => {
    const der = Buffer.from(signDetached(body, device.certPem, device.keyPem), 'base64');
    for (let cut = 1; cut < der.length; cut += 97) {
      expect(() => verifyDetachedSignature(der.subarray(0, cut).toString('base64'), body, options)).to.throw(
        CmsVerificationError,
      );
    }
    for (let i = 0; i < der.length; i += 41) {
      const flipped = Buffer.from(der);
      flipped[i] ^= 0x55;
      try {
        verifyDetachedSignature(flipped.toString('base64'), body, options);
        // A flip in an unsigned, unchecked spot (e.g. the certificate's own padding) can still verify; that is fine.
      } catch (error) {
        expect(error).to.be.instanceOf(CmsVerificationError);
      }
    }
  });
});
