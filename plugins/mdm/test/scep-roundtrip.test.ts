import { X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import { encryptEnvelopedData } from '../src/pki/cms-enveloped-data.js';
import { buildSignedData } from '../src/pki/cms-signed-data.js';
import {
  buildCertRep,
  buildPkcsReq,
  getCACapsResponse,
  getCACertResponse,
  issueDeviceCertificate,
  loadCertificateAuthority,
  parseCertRep,
  parsePkiMessage,
  type ScepEnrollmentRequest,
  ScepError,
  type ScepRequest,
} from '../src/pki/index.js';
import { encodeName } from '../src/pki/names.js';
import { ScepMessageType, scepAttributes } from '../src/pki/scep-common.js';
import { deviceIdentity, impostorCa, newRsaKeyPair, openssl, testCa } from './pki-fixtures.js';

const subject = [
  { type: 'CN', value: 'device-1234' },
  { type: 'O', value: 'Example Org' },
];

function enrollment(request: ScepRequest): ScepEnrollmentRequest {
  expect(request.messageType).to.be.oneOf(['PKCSReq', 'RenewalReq']);
  return request as ScepEnrollmentRequest;
}

function scepError(fn: () => unknown): ScepError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(ScepError);
    return error as ScepError;
  }
  throw new Error('expected a ScepError');
}

describe('scep round trip', () => {
  const { pems, ca } = testCa();

  it('advertises capabilities iOS needs and serves the CA certificate', () => {
    const caps = getCACapsResponse();
    expect(caps.contentType).to.equal('text/plain');
    expect(caps.body.split('\n')).to.include.members(['AES', 'POSTPKIOperation', 'SHA-256', 'SCEPStandard', 'Renewal']);
    const caCert = getCACertResponse(ca);
    expect(caCert.contentType).to.equal('application/x-x509-ca-cert');
    expect(new X509Certificate(caCert.body).raw.equals(ca.certDer)).to.equal(true);
  });

  for (const cipher of ['aes-256-cbc', 'aes-128-cbc', 'des-ede3-cbc'] as const) {
    it(`PKCSReq → CertRep SUCCESS → issued certificate (${cipher})`, () => {
      const keyPair = newRsaKeyPair();
      const request = buildPkcsReq({ subject, keyPair, caCertPem: pems.certPem, challenge: 'challenge-abc', cipher });

      const parsed = enrollment(parsePkiMessage(request.der, ca));
      expect(parsed.messageType).to.equal('PKCSReq');
      expect(parsed.transactionId).to.equal(request.transactionId);
      expect(parsed.senderNonce.equals(request.senderNonce)).to.equal(true);
      expect(parsed.challengePassword).to.equal('challenge-abc');
      expect(parsed.csrSubjectString).to.equal('CN=device-1234, O=Example Org');
      expect(parsed.csrPublicKeyPem).to.equal(keyPair.publicKey.export({ type: 'spki', format: 'pem' }));
      expect(parsed.signerCertDer.equals(request.requesterCertDer)).to.equal(true);
      expect(parsed.signerIssuedByCa).to.equal(false);
      expect(parsed.contentEncryption).to.equal(cipher);
      expect(parsed.digest).to.equal('sha256');

      const issued = issueDeviceCertificate(ca, { csrDer: parsed.csrDer, validityDays: 365 });
      const reply = buildCertRep({ request: parsed, ca, issuedCertDer: issued.certDer });
      const outcome = parseCertRep(reply, request, { caCertPem: pems.certPem });
      expect(outcome.status).to.equal('success');
      if (outcome.status !== 'success') return;
      expect(outcome.certificateDer.equals(issued.certDer)).to.equal(true);
      expect(new X509Certificate(outcome.certificateDer).publicKey.equals(keyPair.publicKey)).to.equal(true);
    });
  }

  it('surfaces a wrong challenge unchanged; the caller answers FAILURE badRequest', () => {
    const request = buildPkcsReq({ subject, keyPair: newRsaKeyPair(), caCertPem: pems.certPem, challenge: 'wrong' });
    const parsed = parsePkiMessage(request.der, ca) as ScepEnrollmentRequest;
    expect(parsed.challengePassword).to.equal('wrong');
    const reply = buildCertRep({ request: parsed, ca, failInfo: 'badRequest' });
    expect(parseCertRep(reply, request, { caCertPem: pems.certPem })).to.deep.equal({
      status: 'failure',
      failInfo: 'badRequest',
    });
  });

  it('reports a missing challenge as undefined and can answer PENDING', () => {
    const request = buildPkcsReq({ subject, keyPair: newRsaKeyPair(), caCertPem: pems.certPem });
    const parsed = parsePkiMessage(request.der, ca) as ScepEnrollmentRequest;
    expect(parsed.challengePassword).to.equal(undefined);
    const reply = buildCertRep({ request: parsed, ca, pending: true });
    expect(parseCertRep(reply, request, { caCertPem: pems.certPem })).to.deep.equal({ status: 'pending' });
  });

  it('RenewalReq signed by an existing device certificate', () => {
    const existing = deviceIdentity(ca);
    const newKeys = newRsaKeyPair();
    const request = buildPkcsReq({
      subject,
      keyPair: newKeys,
      caCertPem: pems.certPem,
      messageType: 'RenewalReq',
      signer: { certPem: existing.certPem, key: existing.keyPem },
    });
    const parsed = enrollment(parsePkiMessage(request.der, ca));
    expect(parsed.messageType).to.equal('RenewalReq');
    expect(parsed.signerIssuedByCa).to.equal(true);
    expect(parsed.signer.fingerprintSha256).to.equal(
      new X509Certificate(existing.certPem).fingerprint256.replace(/:/g, '').toLowerCase(),
    );
    const issued = issueDeviceCertificate(ca, { csrDer: parsed.csrDer, validityDays: 365 });
    const outcome = parseCertRep(buildCertRep({ request: parsed, ca, issuedCertDer: issued.certDer }), request, {
      caCertPem: pems.certPem,
    });
    expect(outcome.status).to.equal('success');
  });

  it('RenewalReq signed by a foreign certificate is refused with a signed FAILURE target', () => {
    const foreign = deviceIdentity(impostorCa());
    const request = buildPkcsReq({
      subject,
      keyPair: newRsaKeyPair(),
      caCertPem: pems.certPem,
      messageType: 'RenewalReq',
      signer: { certPem: foreign.certPem, key: foreign.keyPem },
    });
    const error = scepError(() => parsePkiMessage(request.der, ca));
    expect(error.reason).to.equal('untrusted-signer');
    expect(error.failInfo).to.equal('badMessageCheck');
    expect(error.replyTo?.transactionId).to.equal(request.transactionId);
    const reply = buildCertRep({ request: error.replyTo!, ca, failInfo: error.failInfo });
    expect(parseCertRep(reply, request, { caCertPem: pems.certPem })).to.deep.equal({
      status: 'failure',
      failInfo: 'badMessageCheck',
    });
  });

  it('PKCSReq whose signer key is not the CSR key is refused (proof of possession)', () => {
    const other = newRsaKeyPair();
    const request = buildPkcsReq({
      subject,
      keyPair: newRsaKeyPair(),
      caCertPem: pems.certPem,
      messageType: 'PKCSReq',
      transactionId: 'T1',
    });
    // Re-sign the same envelope with an unrelated self-signed identity.
    const forged = buildPkcsReq({ subject, keyPair: other, caCertPem: pems.certPem, transactionId: 'T1' });
    expect(parsePkiMessage(forged.der, ca).messageType).to.equal('PKCSReq');
    const mixed = buildSignedData({
      content: parseEnvelope(request.der),
      signer: { certDer: forged.requesterCertDer, key: other.privateKey },
      certificates: [forged.requesterCertDer],
      extraSignedAttributes: scepAttributes({
        transactionId: 'T1',
        messageType: ScepMessageType.PKCSReq,
        senderNonce: request.senderNonce,
      }),
    });
    expect(scepError(() => parsePkiMessage(mixed, ca)).reason).to.equal('signer-mismatch');
  });

  it('an envelope for another CA fails to decrypt (with a reply target)', () => {
    const other = impostorCa();
    const request = buildPkcsReq({ subject, keyPair: newRsaKeyPair(), caCertPem: other.certPem });
    const error = scepError(() => parsePkiMessage(request.der, ca));
    expect(error.reason).to.equal('decrypt-failed');
    expect(error.replyTo).to.not.equal(undefined);
  });

  it('an envelope whose RSA block is corrupted fails as decrypt-failed, not as a padding error', () => {
    const keyPair = newRsaKeyPair();
    const envelope = encryptEnvelopedData(Buffer.from('csr'), ca.certDer);
    const encryptedKeyAt = envelope.indexOf(Buffer.from([0x04, 0x82, 0x01, 0x00])); // OCTET STRING of 256 bytes
    expect(encryptedKeyAt).to.be.greaterThan(0);
    envelope[encryptedKeyAt + 10] ^= 0x01;
    const request = buildPkcsReq({ subject, keyPair, caCertPem: pems.certPem });
    const resigned = buildSignedData({
      content: envelope,
      signer: { certDer: request.requesterCertDer, key: keyPair.privateKey },
      certificates: [request.requesterCertDer],
      extraSignedAttributes: scepAttributes({
        transactionId: 'T2',
        messageType: ScepMessageType.PKCSReq,
        senderNonce: request.senderNonce,
      }),
    });
    // Implicit rejection: the bad RSA padding becomes a random content key, so the failure shows up in the
    // symmetric layer (or, ~1/256 of the time, as garbage that is not a CSR) — never as a distinct padding error.
    const error = scepError(() => parsePkiMessage(resigned, ca));
    expect(error.reason).to.be.oneOf(['decrypt-failed', 'bad-csr']);
    expect(error.message).to.not.match(/padding/i);
  });

  it('tampered, oversize and garbage messages are refused', () => {
    const request = buildPkcsReq({ subject, keyPair: newRsaKeyPair(), caCertPem: pems.certPem });
    const tampered = Buffer.from(request.der);
    tampered[tampered.length - 20] ^= 0xff;
    expect(scepError(() => parsePkiMessage(tampered, ca)).reason).to.equal('bad-signature');
    expect(scepError(() => parsePkiMessage(Buffer.alloc(70_000, 0x30), ca)).reason).to.equal('too-large');
    const garbage = scepError(() => parsePkiMessage(Buffer.from('GET /scep?operation=PKIOperation'), ca));
    expect(garbage.reason).to.equal('malformed');
    expect(garbage.replyTo).to.equal(undefined);
  });

  it('parses a CertPoll (GetCertInitial)', () => {
    const keyPair = newRsaKeyPair();
    const first = buildPkcsReq({ subject, keyPair, caCertPem: pems.certPem });
    const issuerAndSubject = Buffer.concat([
      Buffer.from([0x30]),
      lengthOf(ca.subjectNameDer.length + encodeName(subject).length),
    ]);
    const content = Buffer.concat([issuerAndSubject, ca.subjectNameDer, encodeName(subject)]);
    const poll = buildSignedData({
      content: encryptEnvelopedData(content, ca.certDer),
      signer: { certDer: first.requesterCertDer, key: keyPair.privateKey },
      certificates: [first.requesterCertDer],
      extraSignedAttributes: scepAttributes({
        transactionId: first.transactionId,
        messageType: ScepMessageType.CertPoll,
        senderNonce: first.senderNonce,
      }),
    });
    const parsed = parsePkiMessage(poll, ca);
    expect(parsed.messageType).to.equal('CertPoll');
    if (parsed.messageType !== 'CertPoll') return;
    expect(parsed.subject).to.equal('CN=device-1234, O=Example Org');
    expect(parsed.issuer).to.equal('CN=Test Gateway CA, O=Example Org');
  });

  it('the client refuses a CertRep signed by someone else or for another transaction', () => {
    const request = buildPkcsReq({ subject, keyPair: newRsaKeyPair(), caCertPem: pems.certPem });
    const parsed = parsePkiMessage(request.der, ca);
    const impostor = impostorCa();
    const forged = buildCertRep({ request: parsed, ca: impostor, failInfo: 'badRequest' });
    expect(scepError(() => parseCertRep(forged, request, { caCertPem: pems.certPem })).reason).to.equal(
      'untrusted-signer',
    );
    const otherTransaction = buildCertRep({ request: { ...parsed, transactionId: 'other' }, ca, pending: true });
    expect(() => parseCertRep(otherTransaction, request, { caCertPem: pems.certPem })).to.throw(
      ScepError,
      /transactionID/,
    );
  });

  it('interoperates with OpenSSL: it opens our request and verifies/decrypts our CertRep', () => {
    const keyPair = newRsaKeyPair();
    const request = buildPkcsReq({ subject, keyPair, caCertPem: pems.certPem, challenge: 'open-sesame' });
    const caFiles = { 'ca.pem': pems.certPem, 'cakey.pem': pems.keyPem };
    // Outer SignedData: signature checks out (the signer is self-signed, so no chain: -noverify).
    const envelope = openssl(['cms', '-verify', '-noverify', '-inform', 'DER', '-in', 'req.der', '-binary'], {
      ...caFiles,
      'req.der': request.der,
    }).stdout;
    const csr = openssl(
      ['cms', '-decrypt', '-inform', 'DER', '-in', 'env.der', '-recip', 'ca.pem', '-inkey', 'cakey.pem', '-binary'],
      {
        ...caFiles,
        'env.der': envelope,
      },
    ).stdout;
    const csrText = openssl(['req', '-inform', 'DER', '-in', 'csr.der', '-verify', '-noout', '-text'], {
      'csr.der': csr,
    }).stdout.toString();
    expect(csrText).to.match(/challengePassword\s*:\s*open-sesame/);
    expect(csrText).to.match(/CN\s*=\s*device-1234/);

    const parsed = parsePkiMessage(request.der, ca);
    const issued = issueDeviceCertificate(ca, { csrDer: csr, validityDays: 30 });
    const reply = buildCertRep({ request: parsed, ca, issuedCertDer: issued.certDer });
    const replyEnvelope = openssl(
      ['cms', '-verify', '-inform', 'DER', '-in', 'rep.der', '-CAfile', 'ca.pem', '-purpose', 'any', '-binary'],
      {
        ...caFiles,
        'rep.der': reply,
      },
    ).stdout;
    const requesterPem = new X509Certificate(request.requesterCertDer).toString();
    const requesterKeyPem = keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const certsOnly = openssl(
      ['cms', '-decrypt', '-inform', 'DER', '-in', 'env.der', '-recip', 'r.pem', '-inkey', 'rk.pem', '-binary'],
      {
        'env.der': replyEnvelope,
        'r.pem': requesterPem,
        'rk.pem': requesterKeyPem,
      },
    ).stdout;
    const printed = openssl(['pkcs7', '-inform', 'DER', '-in', 'p7.der', '-print_certs'], {
      'p7.der': certsOnly,
    }).stdout.toString();
    expect(printed).to.include(issued.certPem.trim().split('\n')[1]);
  });

  it('loads a CA from PEM and keeps serving the same identity', () => {
    const again = loadCertificateAuthority(pems);
    expect(again.certDer.equals(ca.certDer)).to.equal(true);
    expect(again.subjectKeyId.equals(ca.subjectKeyId)).to.equal(true);
  });
});

function parseEnvelope(pkiMessage: Buffer): Buffer {
  const out = openssl(['cms', '-verify', '-noverify', '-inform', 'DER', '-in', 'm.der', '-binary'], {
    'm.der': pkiMessage,
  });
  return out.stdout;
}

function lengthOf(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  return length < 0x100 ? Buffer.from([0x81, length]) : Buffer.from([0x82, length >> 8, length & 0xff]);
}
