import { X509Certificate } from 'node:crypto';
import { encode } from 'cbor-x';
import { expect } from 'chai';
import { APPLE_ENTERPRISE_ATTESTATION_ROOT_PEM } from '../src/protocol/apple-root.js';
import { parseAnchors, readAppleAttestation } from '../src/protocol/attestation.js';
import { AcmeProblem } from '../src/protocol/problems.js';

const refusalOf = (work: () => unknown): string => {
  try {
    work();
  } catch (error) {
    if (AcmeProblem.isAcme(error)) return error.acmeType;
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('acme: attestation statement parsing', () => {
  it("pins Apple's Enterprise Attestation Root CA by fingerprint", () => {
    const [root] = parseAnchors(APPLE_ENTERPRISE_ATTESTATION_ROOT_PEM);
    expect(root.fingerprint256).to.equal(
      'CC:F5:9E:F8:FC:B3:01:7D:97:F8:B5:FA:6F:A9:0E:7A:3F:92:83:F7:6B:55:AC:6C:F6:ED:A8:B8:B9:49:F0:5B',
    );
    expect(root).to.be.instanceOf(X509Certificate);
  });

  it('refuses what is not an "apple" attestation object with a certificate chain', () => {
    const attObj = (value: unknown) => Buffer.from(encode(value)).toString('base64url');
    expect(refusalOf(() => readAppleAttestation('%%%'))).to.equal('badAttestationStatement');
    expect(
      refusalOf(() => readAppleAttestation(attObj({ fmt: 'packed', attStmt: { x5c: [Buffer.alloc(3)] } }))),
    ).to.equal('badAttestationStatement');
    expect(refusalOf(() => readAppleAttestation(attObj({ fmt: 'apple', attStmt: { x5c: [] } })))).to.equal(
      'badAttestationStatement',
    );
    expect(refusalOf(() => readAppleAttestation(attObj({ fmt: 'apple', attStmt: { x5c: ['text'] } })))).to.equal(
      'badAttestationStatement',
    );
    expect(
      readAppleAttestation(attObj({ fmt: 'apple', attStmt: { x5c: [Buffer.from([0x30, 0x00])] } })),
    ).to.have.length(1);
  });
});
