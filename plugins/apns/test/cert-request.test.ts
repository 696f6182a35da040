import { execFileSync, spawnSync } from 'node:child_process';
import { verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parse as parsePlist } from 'plist';
import { createTestPki, type IssuedPushCertificate, type TestPki } from '../../../test/support/apns-standin.js';
import { generatePushCsr, PushCertificateError, signCsrWithVendorCertificate } from '../src/cert/index.js';

function csrDer(csrPem: string): Buffer {
  return Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function expectProblem(fn: () => unknown, reason: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a PushCertificateError').to.be.instanceOf(PushCertificateError);
  expect((caught as PushCertificateError).reason).to.equal(reason);
}

describe('apns cert: push CSR and vendor signing', () => {
  let dir: string;
  let pki: TestPki;
  let vendor: IssuedPushCertificate;
  let csr: { csrPem: string; keyPem: string };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'apns-cert-'));
    pki = await createTestPki();
    vendor = await pki.issuePushCertificate({ mdm: false });
    csr = await generatePushCsr({
      commonName: 'Example Corp MDM',
      organization: 'Example Corp',
      email: 'mdm@example.com',
      country: 'DE',
    });
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('generates an RSA 2048 CSR whose self-signature `openssl req -verify` accepts', () => {
    const file = path.join(dir, 'push.csr');
    writeFileSync(file, csr.csrPem);
    const result = spawnSync('openssl', ['req', '-in', file, '-noout', '-verify', '-subject', '-text'], {
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).to.equal(0);
    expect(`${result.stdout}${result.stderr}`).to.match(/verify OK/i);
    expect(result.stdout).to.match(/CN\s*=\s*Example Corp MDM/);
    expect(result.stdout).to.match(/O\s*=\s*Example Corp/);
    expect(result.stdout).to.match(/emailAddress\s*=\s*mdm@example.com/);
    expect(result.stdout).to.match(/Public-Key: \(2048 bit\)/);
    expect(result.stdout).to.match(/sha256WithRSAEncryption/);
  });

  it('the CSR key is the returned private key', () => {
    const keyFile = path.join(dir, 'push.key');
    const csrFile = path.join(dir, 'push2.csr');
    writeFileSync(keyFile, csr.keyPem);
    writeFileSync(csrFile, csr.csrPem);
    const fromKey = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout'], { encoding: 'utf8' });
    const fromCsr = execFileSync('openssl', ['req', '-in', csrFile, '-noout', '-pubkey'], { encoding: 'utf8' });
    expect(fromCsr).to.equal(fromKey);
  });

  it('a tampered CSR fails `openssl req -verify`', () => {
    const der = csrDer(csr.csrPem);
    der[der.length - 5] ^= 0xff;
    const file = path.join(dir, 'tampered.csr');
    writeFileSync(file, der);
    const result = spawnSync('openssl', ['req', '-inform', 'DER', '-in', file, '-noout', '-verify'], {
      encoding: 'utf8',
    });
    // OpenSSL 3.0 exits 0 either way; the verdict is in the output.
    expect(`${result.stdout}${result.stderr}`).to.match(/verify failure/i);
    expect(`${result.stdout}${result.stderr}`).to.not.match(/verify OK/i);
  });

  it("builds Apple's plist request file: CSR DER, vendor chain, SHA-256 signature verifiable with the vendor key", () => {
    const encoded = signCsrWithVendorCertificate({
      csrPem: csr.csrPem,
      vendorCertPem: vendor.certPem,
      vendorKeyPem: vendor.keyPem,
      vendorChainPems: [pki.ca.certPem],
    });
    expect(encoded).to.match(/^[A-Za-z0-9+/]+=*$/);
    const request = parsePlist(Buffer.from(encoded, 'base64').toString('utf8')) as Record<string, string>;
    expect(Object.keys(request).sort()).to.deep.equal([
      'PushCertCertificateChain',
      'PushCertRequestCSR',
      'PushCertSignature',
    ]);
    const der = csrDer(csr.csrPem);
    expect(Buffer.from(request.PushCertRequestCSR, 'base64').equals(der)).to.equal(true);

    const chain: string[] =
      request.PushCertCertificateChain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(chain).to.have.length(2);
    expect(new X509Certificate(chain[0]).fingerprint256).to.equal(new X509Certificate(vendor.certPem).fingerprint256);
    expect(new X509Certificate(chain[1]).fingerprint256).to.equal(new X509Certificate(pki.ca.certPem).fingerprint256);

    const signature = Buffer.from(request.PushCertSignature, 'base64');
    const vendorPublicKey = new X509Certificate(vendor.certPem).publicKey;
    expect(verify('sha256', der, vendorPublicKey, signature)).to.equal(true);
    der[10] ^= 1;
    expect(verify('sha256', der, vendorPublicKey, signature)).to.equal(false);
  });

  it('the signature also verifies with `openssl dgst -sha256 -verify` against the vendor certificate', () => {
    const encoded = signCsrWithVendorCertificate({
      csrPem: csr.csrPem,
      vendorCertPem: vendor.certPem,
      vendorKeyPem: vendor.keyPem,
    });
    const request = parsePlist(Buffer.from(encoded, 'base64').toString('utf8')) as Record<string, string>;
    const files = { csr: path.join(dir, 'csr.der'), sig: path.join(dir, 'sig.bin'), pub: path.join(dir, 'vendor.pub') };
    writeFileSync(files.csr, Buffer.from(request.PushCertRequestCSR, 'base64'));
    writeFileSync(files.sig, Buffer.from(request.PushCertSignature, 'base64'));
    writeFileSync(files.pub, new X509Certificate(vendor.certPem).publicKey.export({ type: 'spki', format: 'pem' }));
    const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', files.pub, '-signature', files.sig, files.csr], {
      encoding: 'utf8',
    });
    expect(out).to.match(/Verified OK/);
  });

  it('can sign with SHA-1 for tools that still expect it', () => {
    const encoded = signCsrWithVendorCertificate({
      csrPem: csr.csrPem,
      vendorCertPem: vendor.certPem,
      vendorKeyPem: vendor.keyPem,
      digest: 'sha1',
    });
    const request = parsePlist(Buffer.from(encoded, 'base64').toString('utf8')) as Record<string, string>;
    const ok = verify(
      'sha1',
      csrDer(csr.csrPem),
      new X509Certificate(vendor.certPem).publicKey,
      Buffer.from(request.PushCertSignature, 'base64'),
    );
    expect(ok).to.equal(true);
  });

  it('refuses a vendor key that does not belong to the vendor certificate', async () => {
    const other = await pki.issuePushCertificate({ mdm: false });
    expectProblem(
      () =>
        signCsrWithVendorCertificate({ csrPem: csr.csrPem, vendorCertPem: vendor.certPem, vendorKeyPem: other.keyPem }),
      'key-mismatch',
    );
  });

  it('refuses a CSR that is not one, or whose signature does not verify', () => {
    expectProblem(
      () =>
        signCsrWithVendorCertificate({
          csrPem: vendor.certPem,
          vendorCertPem: vendor.certPem,
          vendorKeyPem: vendor.keyPem,
        }),
      'bad-csr',
    );
    const der = csrDer(csr.csrPem);
    der[der.length - 3] ^= 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expectProblem(
      () =>
        signCsrWithVendorCertificate({ csrPem: tampered, vendorCertPem: vendor.certPem, vendorKeyPem: vendor.keyPem }),
      'bad-csr',
    );
  });

  it('accepts a CSR made by openssl (customers may bring their own)', () => {
    const keyFile = path.join(dir, 'own.key');
    execFileSync('openssl', ['genrsa', '-out', keyFile, '2048'], { stdio: 'ignore' });
    const ownCsr = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', '/CN=Own/O=Own Org', '-sha256'], {
      encoding: 'utf8',
    });
    const encoded = signCsrWithVendorCertificate({
      csrPem: ownCsr,
      vendorCertPem: vendor.certPem,
      vendorKeyPem: vendor.keyPem,
    });
    const request = parsePlist(Buffer.from(encoded, 'base64').toString('utf8')) as Record<string, string>;
    expect(Buffer.from(request.PushCertRequestCSR, 'base64').equals(csrDer(ownCsr))).to.equal(true);
  });
});
