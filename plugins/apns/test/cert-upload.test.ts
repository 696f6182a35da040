import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import forge from 'node-forge';
import { createTestPki, type IssuedPushCertificate, type TestPki } from '../../../test/support/apns-standin.js';
import {
  checkRenewal,
  expiryWarnings,
  PushCertificateError,
  type PushCertificateUpload,
  parsePushCertificateUpload,
} from '../src/cert/index.js';

const DAY = 86_400_000;

function expectProblem(upload: PushCertificateUpload, reason: string): PushCertificateError {
  let caught: unknown;
  try {
    parsePushCertificateUpload(upload);
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a PushCertificateError').to.be.instanceOf(PushCertificateError);
  expect((caught as PushCertificateError).reason).to.equal(reason);
  return caught as PushCertificateError;
}

describe('apns cert: push certificate upload', () => {
  let dir: string;
  let pki: TestPki;
  let push: IssuedPushCertificate;

  /** `openssl pkcs12 -export` with OpenSSL 3 defaults (AES-256-CBC, PBKDF2, SHA-256 MAC). */
  function opensslP12(cert: IssuedPushCertificate, password: string, extra: string[] = []): Buffer {
    const files = { cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem'), out: path.join(dir, 'out.p12') };
    writeFileSync(files.cert, cert.certPem);
    writeFileSync(files.key, cert.keyPem);
    execFileSync('openssl', [
      'pkcs12',
      '-export',
      '-in',
      files.cert,
      '-inkey',
      files.key,
      '-out',
      files.out,
      '-passout',
      `pass:${password}`,
      ...extra,
    ]);
    return readFileSync(files.out);
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'apns-upload-'));
    pki = await createTestPki();
    push = await pki.issuePushCertificate();
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a PEM with certificate and key: topic, validity, serial and fingerprint as openssl sees them', () => {
    const parsed = parsePushCertificateUpload({ pem: `${push.certPem}\n${push.keyPem}` });
    expect(parsed.topic).to.equal(push.topic);
    expect(parsed.topic.startsWith('com.apple.mgmt.External.')).to.equal(true);
    expect(parsed.environments).to.deep.equal(['development', 'production']);
    const certFile = path.join(dir, 'push.pem');
    writeFileSync(certFile, push.certPem);
    const fingerprint = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], {
      encoding: 'utf8',
    });
    expect(fingerprint.trim()).to.equal(`sha256 Fingerprint=${parsed.fingerprint}`);
    const serial = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-serial'], { encoding: 'utf8' });
    expect(serial.trim().toLowerCase()).to.equal(`serial=${parsed.serialHex}`);
    const endDate = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-enddate'], { encoding: 'utf8' });
    expect(new Date(endDate.trim().slice('notAfter='.length)).getTime()).to.equal(parsed.notAfter.getTime());
    expect(parsed.notBefore.getTime()).to.be.lessThan(Date.now());
    // The key comes back as PKCS#8 and is the same key.
    expect(parsed.keyPem).to.match(/^-----BEGIN PRIVATE KEY-----/);
    const original = createPrivateKey(push.keyPem).export({ type: 'pkcs8', format: 'der' });
    expect(createPrivateKey(parsed.keyPem).export({ type: 'pkcs8', format: 'der' }).equals(original)).to.equal(true);
  });

  it('reads a certificate-only PEM with the key kept from the CSR step', () => {
    const parsed = parsePushCertificateUpload({ pem: push.certPem, keyPem: push.keyPem });
    expect(parsed.topic).to.equal(push.topic);
  });

  it('picks the push certificate out of a PEM bundle with its chain', () => {
    const parsed = parsePushCertificateUpload({ pem: `${pki.ca.certPem}\n${push.certPem}`, keyPem: push.keyPem });
    expect(parsed.topic).to.equal(push.topic);
  });

  it('reads a .p12 made by `openssl pkcs12 -export`', () => {
    const parsed = parsePushCertificateUpload({ p12: opensslP12(push, 's3cret'), password: 's3cret' });
    expect(parsed.topic).to.equal(push.topic);
    expect(parsed.keyPem).to.match(/PRIVATE KEY/);
  });

  it('reads a .p12 made with 3DES (older Keychain exports)', () => {
    const p12 = forge.pkcs12.toPkcs12Asn1(
      forge.pki.privateKeyFromPem(push.keyPem),
      [forge.pki.certificateFromPem(push.certPem)],
      'pw',
      {
        algorithm: '3des',
      },
    );
    const parsed = parsePushCertificateUpload({
      p12: Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary'),
      password: 'pw',
    });
    expect(parsed.topic).to.equal(push.topic);
  });

  it('wrong or missing .p12 password: bad-password', () => {
    const p12 = opensslP12(push, 'right');
    expectProblem({ p12, password: 'wrong' }, 'bad-password');
    expectProblem({ p12 }, 'bad-password');
  });

  it('encrypted PEM key with a wrong password: bad-password', () => {
    const encrypted = createPrivateKey(push.keyPem)
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right' })
      .toString();
    expect(parsePushCertificateUpload({ pem: `${push.certPem}${encrypted}`, password: 'right' }).topic).to.equal(
      push.topic,
    );
    expectProblem({ pem: `${push.certPem}${encrypted}`, password: 'wrong' }, 'bad-password');
  });

  it('not a certificate at all: unsupported-file', () => {
    expectProblem({ p12: Buffer.from('definitely not DER') }, 'unsupported-file');
    expectProblem({ pem: push.keyPem }, 'unsupported-file');
    expectProblem({}, 'unsupported-file');
  });

  it('an expired push certificate: expired', async () => {
    const old = await pki.issuePushCertificate({
      notBefore: new Date(Date.now() - 400 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const error = expectProblem({ pem: old.certPem, keyPem: old.keyPem }, 'expired');
    expect(error.message).to.match(/renew/i);
  });

  it('validity is judged at the given instant', () => {
    const later = new Date(Date.now() + 400 * DAY);
    expectProblem({ pem: push.certPem, keyPem: push.keyPem, now: later }, 'expired');
    expectProblem({ pem: push.certPem, keyPem: push.keyPem, now: new Date(Date.now() - 10 * DAY) }, 'not-yet-valid');
  });

  it('an ordinary client certificate (no com.apple.mgmt. UID): not-mdm-push', async () => {
    const other = await pki.issuePushCertificate({ mdm: false });
    expectProblem({ pem: other.certPem, keyPem: other.keyPem }, 'not-mdm-push');
    expectProblem({ pem: pki.server.certPem, keyPem: pki.server.keyPem }, 'not-mdm-push');
  });

  it('a key that is not the certificate key: key-mismatch', async () => {
    const other = await pki.issuePushCertificate();
    expectProblem({ pem: push.certPem, keyPem: other.keyPem }, 'key-mismatch');
    expectProblem({ pem: `${push.certPem}${other.keyPem}` }, 'key-mismatch');
  });

  it('no key anywhere: no-key', () => {
    expectProblem({ pem: push.certPem }, 'no-key');
  });
});

describe('apns cert: renewal and expiry', () => {
  const topic = 'com.apple.mgmt.External.11111111-2222-3333-4444-555555555555';
  const otherTopic = 'com.apple.mgmt.External.99999999-2222-3333-4444-555555555555';

  it('a renewal with the same topic is fine', () => {
    expect(checkRenewal({ topic }, { topic }, { allowTopicChange: false })).to.deep.equal({
      ok: true,
      topicChanged: false,
    });
    expect(checkRenewal(undefined, { topic }, { allowTopicChange: false })).to.deep.equal({
      ok: true,
      topicChanged: false,
    });
  });

  it('a new topic is refused with a warning about orphaned devices, unless explicitly allowed', () => {
    const refused = checkRenewal({ topic }, { topic: otherTopic }, { allowTopicChange: false });
    expect(refused.ok).to.equal(false);
    if (refused.ok) return;
    expect(refused.error).to.be.instanceOf(PushCertificateError);
    expect(refused.error.reason).to.equal('topic-changed');
    expect(refused.error.message)
      .to.include(topic)
      .and.include(otherTopic)
      .and.match(/orphaned/)
      .and.match(/re-enroll/);
    expect(checkRenewal({ topic }, { topic: otherTopic }, { allowTopicChange: true })).to.deep.equal({
      ok: true,
      topicChanged: true,
    });
  });

  it('expiry thresholds at 30, 7 and 1 days', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const at = (ms: number) => expiryWarnings(new Date(now.getTime() + ms), now);
    expect(at(40 * DAY)).to.deep.equal({ expired: false, daysLeft: 40, crossed: [] });
    expect(at(30 * DAY).crossed).to.deep.equal([30]);
    expect(at(30 * DAY + 1).crossed).to.deep.equal([]);
    expect(at(7 * DAY).crossed).to.deep.equal([30, 7]);
    expect(at(6 * DAY + 3600_000)).to.deep.equal({ expired: false, daysLeft: 6, crossed: [30, 7] });
    expect(at(12 * 3600_000)).to.deep.equal({ expired: false, daysLeft: 0, crossed: [30, 7, 1] });
    expect(at(-DAY)).to.deep.equal({ expired: true, daysLeft: -1, crossed: [30, 7, 1] });
  });
});
