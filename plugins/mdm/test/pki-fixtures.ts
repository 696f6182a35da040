/** Shared real-crypto fixtures for the PKI tests (one CA per test process; RSA key generation is slow-ish). */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueDeviceCertificate,
  loadCertificateAuthority,
  type PemCertificateAndKey,
} from '../src/pki/index.js';

export interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export const newRsaKeyPair = (): KeyPair => generateKeyPairSync('rsa', { modulusLength: 2048 });

let cached: { pems: PemCertificateAndKey; ca: CertificateAuthority } | undefined;
/** The gateway CA for this test run. */
export function testCa(): { pems: PemCertificateAndKey; ca: CertificateAuthority } {
  if (!cached) {
    const pems = createCertificateAuthority({
      commonName: 'Test Gateway CA',
      organization: 'Example Org',
      validityDays: 3650,
    });
    cached = { pems, ca: loadCertificateAuthority(pems) };
  }
  return cached;
}

/** An unrelated CA with the same name: what an attacker could mint. */
export function impostorCa(): CertificateAuthority {
  return loadCertificateAuthority(
    createCertificateAuthority({ commonName: 'Test Gateway CA', organization: 'Example Org', validityDays: 3650 }),
  );
}

export function deviceIdentity(
  ca: CertificateAuthority,
  validityDays = 365,
): { certPem: string; keyPem: string; keyPair: KeyPair } {
  const keyPair = newRsaKeyPair();
  const issued = issueDeviceCertificate(ca, {
    publicKey: keyPair.publicKey,
    subject: [{ type: 'CN', value: 'device-identity' }],
    validityDays,
  });
  return {
    certPem: issued.certPem,
    keyPem: keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyPair,
  };
}

/** Runs openssl in a scratch directory holding `files`; returns stdout. Throws (with stderr) on non-zero exit. */
export function openssl(args: string[], files: Record<string, string | Buffer> = {}): { stdout: Buffer; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pki-openssl-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const stdout = execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    return { stdout, dir };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
