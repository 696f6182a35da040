import { createPrivateKey, X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import {
  buildCertificationRequest,
  CertificateIssueError,
  certificateFingerprintSha256,
  createCertificateAuthority,
  issueDeviceCertificate,
  issueSigningCertificate,
  loadCertificateAuthority,
  summarizeCertificate,
} from '../src/pki/index.js';
import { newRsaKeyPair, openssl, testCa } from './pki-fixtures.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('pki certificates', () => {
  it('creates a CA certificate that is a CA, self-signed and usable for SCEP encryption', () => {
    const { pems, ca } = testCa();
    const cert = new X509Certificate(pems.certPem);
    expect(cert.ca).to.equal(true);
    expect(cert.verify(cert.publicKey)).to.equal(true);
    expect(cert.subject).to.equal('CN=Test Gateway CA\nO=Example Org');
    expect(ca.subjectKeyId.length).to.equal(20);
    const text = openssl(['x509', '-in', 'ca.pem', '-noout', '-text'], { 'ca.pem': pems.certPem }).stdout.toString();
    expect(text).to.match(/CA:TRUE/);
    expect(text).to.match(/Digital Signature, Key Encipherment, Certificate Sign, CRL Sign/);
    expect(text).to.match(/Subject Key Identifier/);
  });

  it('refuses to load a CA whose key does not match', () => {
    const { pems } = testCa();
    const other = createCertificateAuthority({ commonName: 'Other', validityDays: 1 });
    expect(() => loadCertificateAuthority({ certPem: pems.certPem, keyPem: other.keyPem })).to.throw(
      CertificateIssueError,
    );
  });

  it('issues a device certificate from a CSR with clientAuth, key usages, AKI and a random positive serial', () => {
    const { pems, ca } = testCa();
    const keyPair = newRsaKeyPair();
    const csrDer = buildCertificationRequest({
      subject: [
        { type: 'CN', value: 'iPhone de Zoë' },
        { type: 'O', value: 'Example Org' },
      ],
      publicKey: keyPair.publicKey,
      privateKey: keyPair.privateKey,
      challengePassword: 'secret',
    });
    const issued = issueDeviceCertificate(ca, { csrDer, validityDays: 365 });
    const cert = new X509Certificate(issued.certDer);
    expect(cert.verify(ca.certificate.publicKey)).to.equal(true);
    expect(cert.checkIssued(ca.certificate)).to.equal(true);
    expect(cert.publicKey.equals(keyPair.publicKey)).to.equal(true);
    expect(cert.subject).to.equal('CN=iPhone de Zoë\nO=Example Org');
    expect(cert.keyUsage).to.deep.equal([CLIENT_AUTH]);
    expect(issued.serialHex).to.match(/^[0-7][0-9a-f]{31}$/);
    expect(issued.serialHex).to.not.match(/^00/);
    expect(issued.fingerprintSha256).to.equal(certificateFingerprintSha256(issued.certDer));

    const summary = summarizeCertificate(issued.certPem);
    expect(summary.serialHex).to.equal(issued.serialHex);
    expect(summary.subject).to.equal('CN=iPhone de Zoë, O=Example Org');
    expect(summary.notAfter.getTime()).to.equal(issued.notAfter.getTime());
    expect(summary.notBefore.getTime()).to.be.below(Date.now());

    // Cross-check with OpenSSL: chain verifies for clientAuth and the extensions read as intended.
    const files = { 'ca.pem': pems.certPem, 'leaf.pem': issued.certPem };
    const verified = openssl(
      ['verify', '-CAfile', 'ca.pem', '-purpose', 'sslclient', 'leaf.pem'],
      files,
    ).stdout.toString();
    expect(verified).to.match(/leaf.pem: OK/);
    const text = openssl(['x509', '-in', 'leaf.pem', '-noout', '-text'], files).stdout.toString();
    expect(text).to.match(/TLS Web Client Authentication/);
    expect(text).to.match(/Digital Signature, Key Encipherment/);
    const aki = text.match(/Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/)?.[1];
    expect(aki?.replace(/:/g, '').toLowerCase()).to.equal(ca.subjectKeyId.toString('hex'));
  });

  it('gives each certificate a distinct serial and honours an explicit one', () => {
    const { ca } = testCa();
    const { publicKey } = newRsaKeyPair();
    const subject = [{ type: 'CN', value: 'serials' }];
    const serials = new Set(
      Array.from({ length: 5 }, () => issueDeviceCertificate(ca, { publicKey, subject, validityDays: 1 }).serialHex),
    );
    expect(serials.size).to.equal(5);
    const explicit = issueDeviceCertificate(ca, { publicKey, subject, validityDays: 1, serial: '0abc12' });
    expect(new X509Certificate(explicit.certDer).serialNumber.toLowerCase()).to.equal('0abc12');
    const highBit = issueDeviceCertificate(ca, { publicKey, subject, validityDays: 1, serial: 'f1' });
    expect(new X509Certificate(highBit.certDer).serialNumber.toLowerCase()).to.match(/^(00)?f1$/);
  });

  it('rejects a CSR whose self-signature does not verify', () => {
    const { ca } = testCa();
    const keyPair = newRsaKeyPair();
    const csrDer = buildCertificationRequest({ subject: [{ type: 'CN', value: 'x' }], ...keyPair });
    csrDer[csrDer.length - 5] ^= 0x01;
    expect(() => issueDeviceCertificate(ca, { csrDer, validityDays: 1 })).to.throw(/self-signature/);
  });

  it('accepts a CSR produced by OpenSSL', () => {
    const { ca } = testCa();
    const keyPair = newRsaKeyPair();
    const keyPem = keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const csrDer = openssl(
      ['req', '-new', '-key', 'k.pem', '-subj', '/CN=openssl-device/O=Example Org', '-outform', 'DER'],
      {
        'k.pem': keyPem,
      },
    ).stdout;
    const issued = issueDeviceCertificate(ca, { csrDer, validityDays: 30 });
    expect(new X509Certificate(issued.certDer).subject).to.equal('CN=openssl-device\nO=Example Org');
  });

  it('issues a profile-signing certificate without EKU restrictions', () => {
    const { pems, ca } = testCa();
    const signing = issueSigningCertificate(ca, { commonName: 'Profile Signing', validityDays: 365 });
    const cert = new X509Certificate(signing.certPem);
    expect(cert.checkPrivateKey(createPrivateKey(signing.keyPem))).to.equal(true);
    expect(cert.verify(ca.certificate.publicKey)).to.equal(true);
    expect(cert.keyUsage).to.equal(undefined);
    expect(cert.ca).to.equal(false);
    const verified = openssl(['verify', '-CAfile', 'ca.pem', '-purpose', 'smimesign', 'leaf.pem'], {
      'ca.pem': pems.certPem,
      'leaf.pem': signing.certPem,
    }).stdout.toString();
    expect(verified).to.match(/OK/);
  });

  it('validates subjects and inputs', () => {
    const { ca } = testCa();
    const { publicKey } = newRsaKeyPair();
    expect(() => issueDeviceCertificate(ca, { publicKey, subject: [], validityDays: 1 })).to.throw(
      CertificateIssueError,
    );
    expect(() =>
      issueDeviceCertificate(ca, { publicKey, subject: [{ type: 'XX', value: 'a' }], validityDays: 1 }),
    ).to.throw(/unknown name attribute/);
    expect(() => issueDeviceCertificate(ca, { publicKey, validityDays: 1 })).to.throw(/subject is required/);
    expect(() => issueDeviceCertificate(ca, { validityDays: 1 })).to.throw(/csrDer or publicKey/);
    expect(() =>
      issueDeviceCertificate(ca, { publicKey, subject: [{ type: 'CN', value: 'a' }], validityDays: 0 }),
    ).to.throw(/validityDays/);
  });
});
