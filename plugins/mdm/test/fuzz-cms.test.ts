import { X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { fuzzParameters, mutatedBytes, noise } from '../../../test/support/fuzz.js';
import {
  CmsVerificationError,
  certificateFingerprintSha256,
  createSelfSignedCertificate,
  signDetached,
  verifyDetachedSignature,
} from '../src/pki/index.js';
import { buildPlist } from '../src/protocol/index.js';
import { deviceIdentity, impostorCa, newRsaKeyPair, testCa } from './pki-fixtures.js';

/**
 * The Mdm-Signature check sees attacker-chosen base64 before anything else: whatever it gets, it answers with the
 * signer of the real identity or a CmsVerificationError (the route's 400/403), and never accepts a changed body.
 */
describe('fuzz: the Mdm-Signature check answers only with the real signer or a typed CmsVerificationError', function () {
  this.timeout(120_000);
  const { ca, pems } = testCa();
  const options = { caCertPem: pems.certPem };
  const body = buildPlist({ MessageType: 'TokenUpdate', UDID: '00008120-0000000000000001', Topic: 'com.apple.x' });
  const identity = deviceIdentity(ca);
  const fingerprint = certificateFingerprintSha256(new X509Certificate(identity.certPem).raw);
  const genuine = Buffer.from(signDetached(body, identity.certPem, identity.keyPair.privateKey), 'base64');
  const impostor = deviceIdentity(impostorCa());
  const selfSignedKey = newRsaKeyPair();
  const selfSigned = createSelfSignedCertificate({
    subject: [{ type: 'CN', value: 'device-identity' }],
    validityDays: 1,
    ...selfSignedKey,
  });
  const forged = [
    signDetached(body, impostor.certPem, impostor.keyPair.privateKey),
    signDetached(body, selfSigned.certPem, selfSignedKey.privateKey),
    signDetached(body, identity.certPem, selfSignedKey.privateKey),
  ].map((b64) => Buffer.from(b64, 'base64'));

  /** The only success is the genuine signer over the genuine body; anything else is a CmsVerificationError. */
  const check = (header: string, content: Buffer) => {
    let signer: ReturnType<typeof verifyDetachedSignature>;
    try {
      signer = verifyDetachedSignature(header, content, options);
    } catch (error) {
      if (error instanceof CmsVerificationError) return;
      throw new Error(`untyped ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`, { cause: error });
    }
    expect(signer.fingerprintSha256).to.equal(fingerprint);
    expect(content.equals(body), 'a signature verified over a changed body').to.equal(true);
  };

  it('the genuine signature verifies and the forged ones do not (the seeds)', () => {
    expect(verifyDetachedSignature(genuine.toString('base64'), body, options).fingerprintSha256).to.equal(fingerprint);
    for (const der of forged) {
      expect(() => verifyDetachedSignature(der.toString('base64'), body, options)).to.throw(CmsVerificationError);
    }
  });

  it('mutated DER of genuine and forged signatures (truncated, spliced, bad lengths, altered certificates)', () => {
    const der = fc.constantFrom(genuine, ...forged).chain(mutatedBytes);
    fc.assert(
      fc.property(der, (bytes) => check(bytes.toString('base64'), body)),
      fuzzParameters(2000),
    );
  });

  it('the genuine signature over a mutated body never verifies', () => {
    fc.assert(
      fc.property(mutatedBytes(body), (content) => check(genuine.toString('base64'), content)),
      fuzzParameters(500),
    );
  });

  it('mutated base64 text: whitespace, padding, foreign characters, random strings', () => {
    const text = fc.oneof(
      mutatedBytes(Buffer.from(genuine.toString('base64'))).map((b) => b.toString('latin1')),
      fc.string({ maxLength: 200 }),
      fc.base64String({ maxLength: 400 }),
      noise.map((b) => b.toString('base64')),
    );
    fc.assert(
      fc.property(text, (header) => check(header, body)),
      fuzzParameters(1000),
    );
  });
});
