/**
 * Leaf certificates signed by the throwaway test CA that `npm test` creates (TEST_CA_DIR), so https
 * stand-ins on loopback are trusted by Node through NODE_EXTRA_CA_CERTS, with no verification switched off.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TlsLeaf {
  cert: string;
  key: string;
  /** The test CA certificate (PEM), for clients that need it explicitly. */
  ca: string;
}

export function issueTestLeaf(hosts: readonly string[] = ['127.0.0.1', 'localhost']): TlsLeaf {
  const caDir = process.env.TEST_CA_DIR;
  if (!caDir) throw new Error('TEST_CA_DIR is not set: run the tests with `npm test`');
  const work = mkdtempSync(path.join(tmpdir(), 'leaf-'));
  try {
    const san = hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    const ext = path.join(work, 'ext.cnf');
    writeFileSync(
      ext,
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    );
    const key = path.join(work, 'leaf.key');
    const csr = path.join(work, 'leaf.csr');
    const cert = path.join(work, 'leaf.pem');
    execFileSync(
      'openssl',
      ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${hosts[0]}`],
      {
        stdio: 'ignore',
      },
    );
    execFileSync(
      'openssl',
      ['x509', '-req', '-in', csr, '-CA', path.join(caDir, 'ca.pem'), '-CAkey', path.join(caDir, 'ca.key')].concat([
        '-CAcreateserial',
        '-out',
        cert,
        '-days',
        '2',
        '-sha256',
        '-extfile',
        ext,
      ]),
      { stdio: 'ignore', cwd: work },
    );
    return {
      cert: readFileSync(cert, 'utf8'),
      key: readFileSync(key, 'utf8'),
      ca: readFileSync(path.join(caDir, 'ca.pem'), 'utf8'),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
