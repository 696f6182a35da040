import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * A throwaway CA for local https (the tests' stand-ins, the preview), made once with openssl and kept in `dir`
 * (ca.pem, ca.key); Node trusts it through NODE_EXTRA_CA_CERTS. Returns `dir`.
 */
export function ensureSelfSignedCa(dir: string, commonName: string): string {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(path.join(dir, 'ca.pem'))) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        path.join(dir, 'ca.key'),
        '-out',
        path.join(dir, 'ca.pem'),
        '-days',
        '3650',
        '-subj',
        `/CN=${commonName}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      { stdio: 'ignore' },
    );
  }
  return dir;
}
