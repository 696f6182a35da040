import { expect } from 'chai';
import { AesGcmKeyVault } from '../../core/key-vault.js';

const keyA = Buffer.alloc(32, 1).toString('base64');
const keyB = Buffer.alloc(32, 2).toString('base64');

describe('kernel: key vault (secrets at rest)', () => {
  it('seals and opens; the sealed text does not contain the secret', () => {
    const vault = new AesGcmKeyVault(keyA, []);
    const sealed = vault.seal(Buffer.from('-----BEGIN PRIVATE KEY-----'), 'pki:ca');
    expect(sealed).not.to.include('PRIVATE');
    expect(vault.open(sealed, 'pki:ca').toString()).to.equal('-----BEGIN PRIVATE KEY-----');
  });

  it('refuses to open under another context or after tampering', () => {
    const vault = new AesGcmKeyVault(keyA, []);
    const sealed = vault.seal(Buffer.from('secret'), 'device:1');
    expect(() => vault.open(sealed, 'device:2')).to.throw(/failed authentication/);
    const parts = sealed.split('.');
    parts[4] = Buffer.from('tampered').toString('base64url');
    expect(() => vault.open(parts.join('.'), 'device:1')).to.throw(/failed authentication/);
    expect(() => vault.open('garbage', 'device:1')).to.throw(/malformed/);
  });

  it('rotates: a new key opens values sealed under a previous key and flags them for re-sealing', () => {
    const old = new AesGcmKeyVault(keyA, []);
    const sealed = old.seal(Buffer.from('secret'), 'ctx');
    const rotated = new AesGcmKeyVault(keyB, [keyA]);
    expect(rotated.open(sealed, 'ctx').toString()).to.equal('secret');
    expect(rotated.needsRotation(sealed)).to.equal(true);
    expect(rotated.needsRotation(rotated.seal(Buffer.from('x'), 'ctx'))).to.equal(false);
    expect(() => new AesGcmKeyVault(keyB, []).open(sealed, 'ctx')).to.throw(/unknown master key/);
  });

  it('explains how to create a master key when none is configured', () => {
    expect(() => new AesGcmKeyVault(undefined, [])).to.throw(/openssl rand -base64 32/);
  });
});

describe('kernel: typed errors across SDK copies', () => {
  it('recognises a ProblemError by its brand, not by class identity', async () => {
    const { ProblemError, GatewayError, VetoError } = await import('../../core/sdk/errors.js');
    const problem = new ProblemError(409, 'Conflict', 'stale');
    expect(ProblemError.is(problem)).to.equal(true);
    expect(GatewayError.is(problem)).to.equal(true);
    expect(VetoError.is(problem)).to.equal(false);
    // A structurally separate copy, as a partner's bundled SDK would be.
    class ForeignBase extends Error {}
    const foreign = Object.assign(new ForeignBase('x'), { status: 409 });
    Object.defineProperty(foreign, Symbol.for('enrollment-gateway.error.ProblemError'), { value: true });
    expect(ProblemError.is(foreign)).to.equal(true);
    expect(ProblemError.is(new Error('plain'))).to.equal(false);
  });
});
