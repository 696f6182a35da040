import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { derToAsn1 } from './der.js';
import { PushCertificateError } from './errors.js';

/** Apple's APNs extensions in push certificates (development / production environment). */
export const APPLE_PUSH_EXTENSION_OIDS = {
  development: '1.2.840.113635.100.6.3.1',
  production: '1.2.840.113635.100.6.3.2',
} as const;
/** MDM push topics are the subject UID and start with this. */
export const MDM_TOPIC_PREFIX = 'com.apple.mgmt.';

export interface PushCertificateUpload {
  /** PEM text: the certificate (maybe with its chain) and maybe the private key. */
  pem?: string;
  /** A PKCS#12 (.p12/.pfx) file with certificate and key. */
  p12?: Buffer;
  /** For the .p12, or for an encrypted PEM key. */
  password?: string;
  /** The key when it is not in the upload (it stayed on the gateway since the CSR was generated). */
  keyPem?: string;
  /** Validity is checked against this instant (default now). */
  now?: Date;
}

export interface ParsedPushCertificate {
  certPem: string;
  /** PKCS#8 PEM, unencrypted. */
  keyPem: string;
  /** The APNs topic: the certificate's subject UID. */
  topic: string;
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
  /** SHA-256 fingerprint, colon-separated hex as OpenSSL prints it. */
  fingerprint: string;
  /** APNs environments named by Apple's extensions (empty when the certificate has none). */
  environments: ('development' | 'production')[];
}

interface RawUpload {
  certificates: X509Certificate[];
  key?: KeyObject;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]+?-----END \1-----/;

function readKey(pem: string, password: string | undefined): KeyObject {
  try {
    return createPrivateKey(password === undefined ? pem : { key: pem, passphrase: password });
  } catch (error) {
    // With a wrong password the cipher usually reports a bad decrypt, but about 1 time in 256 the padding
    // happens to check out and the garbage fails later as undecodable DER: for an encrypted key, both mean
    // the password is wrong.
    const encrypted = /ENCRYPTED/.test(pem) || /Proc-Type: 4,ENCRYPTED/.test(pem);
    if (encrypted) {
      throw new PushCertificateError(
        'bad-password',
        'the private key is encrypted and the password is wrong or missing',
        { cause: error },
      );
    }
    throw new PushCertificateError('unsupported-file', 'the private key could not be read', { cause: error });
  }
}

function readPem(pem: string, password: string | undefined): RawUpload {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new PushCertificateError('unsupported-file', 'no PEM certificate in the upload');
  let certificates: X509Certificate[];
  try {
    certificates = blocks.map((block) => new X509Certificate(block));
  } catch (error) {
    throw new PushCertificateError('unsupported-file', 'a PEM certificate could not be parsed', { cause: error });
  }
  const keyBlock = KEY_BLOCK.exec(pem);
  return { certificates, key: keyBlock ? readKey(keyBlock[0], password) : undefined };
}

function readP12(p12: Buffer, password: string | undefined): RawUpload {
  let pfx: forge.pkcs12.Pkcs12Pfx;
  try {
    pfx = forge.pkcs12.pkcs12FromAsn1(derToAsn1(p12), false, password ?? '');
  } catch (error) {
    const message = String((error as Error).message);
    if (/MAC could not be verified|Invalid password/i.test(message)) {
      throw new PushCertificateError('bad-password', 'wrong password for the PKCS#12 file', { cause: error });
    }
    throw new PushCertificateError('unsupported-file', `not a readable PKCS#12 file: ${message}`, { cause: error });
  }
  const certificates: X509Certificate[] = [];
  for (const bag of pfx.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ?? []) {
    if (bag.cert) certificates.push(new X509Certificate(forge.pki.certificateToPem(bag.cert)));
  }
  if (certificates.length === 0)
    throw new PushCertificateError('unsupported-file', 'the PKCS#12 file holds no certificate');
  const keyBags = [
    ...(pfx.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag] ?? []),
    ...(pfx.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag] ?? []),
  ];
  const forgeKey = keyBags.find((bag) => bag.key)?.key;
  return { certificates, key: forgeKey ? createPrivateKey(forge.pki.privateKeyToPem(forgeKey)) : undefined };
}

/** Subject UID, from node's "KEY=value" per line rendering of the subject. */
function subjectUid(certificate: X509Certificate): string | undefined {
  for (const line of certificate.subject.split('\n')) {
    if (line.startsWith('UID=')) return line.slice(4);
  }
  return undefined;
}

/** Extension OIDs, read from the DER (node does not list unknown extensions; forge's parser insists on RSA). */
function extensionOids(certificate: X509Certificate): string[] {
  const tbs = (derToAsn1(certificate.raw).value as forge.asn1.Asn1[])[0];
  const wrapper = (tbs.value as forge.asn1.Asn1[]).find(
    (node) => node.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && node.type === 3,
  );
  if (!wrapper) return [];
  const extensions = (wrapper.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[];
  return extensions.map((extension) => forge.asn1.derToOid((extension.value as forge.asn1.Asn1[])[0].value as string));
}

/**
 * True when the certificate signs itself. Apple issues push certificates under its own CA; APNs refuses a
 * self-signed one at the TLS handshake, so it can never wake a device.
 */
export function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

function spkiDer(key: KeyObject | X509Certificate): Buffer {
  const publicKey = key instanceof X509Certificate ? key.publicKey : createPublicKey(key);
  return publicKey.export({ type: 'spki', format: 'der' });
}

/**
 * Reads an uploaded MDM push certificate (PEM or PKCS#12) and checks it can be used: it is an MDM push
 * certificate (subject UID under com.apple.mgmt.), the key is there and belongs to it, and it is valid now.
 */
export function parsePushCertificateUpload(upload: PushCertificateUpload): ParsedPushCertificate {
  let raw: RawUpload;
  if (upload.p12) raw = readP12(upload.p12, upload.password);
  else if (upload.pem) raw = readPem(upload.pem, upload.password);
  else throw new PushCertificateError('unsupported-file', 'upload a PEM or a PKCS#12 (.p12) file');

  const certificate = raw.certificates.find((candidate) => subjectUid(candidate)?.startsWith(MDM_TOPIC_PREFIX));
  if (!certificate) {
    const subject = raw.certificates[0].subject.replaceAll('\n', ', ');
    throw new PushCertificateError(
      'not-mdm-push',
      `not an MDM push certificate (subject ${subject}); expected a UID starting with ${MDM_TOPIC_PREFIX} from Apple's Push Certificates Portal`,
    );
  }
  if (isSelfSigned(certificate)) {
    throw new PushCertificateError(
      'self-signed',
      "the certificate is self-signed: APNs accepts only push certificates Apple issued; get one at Apple's Push Certificates Portal (https://identity.apple.com)",
    );
  }
  const topic = subjectUid(certificate) as string;
  const oids = extensionOids(certificate);
  const environments = (['development', 'production'] as const).filter((env) =>
    oids.includes(APPLE_PUSH_EXTENSION_OIDS[env]),
  );

  const key = raw.key ?? (upload.keyPem ? readKey(upload.keyPem, upload.password) : undefined);
  if (!key) {
    throw new PushCertificateError(
      'no-key',
      'the upload has no private key and none is on record: upload a .p12 or the key PEM',
    );
  }
  if (!spkiDer(certificate).equals(spkiDer(key))) {
    throw new PushCertificateError(
      'key-mismatch',
      'the private key does not belong to this certificate (was the CSR made with another key?)',
    );
  }

  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  const now = upload.now ?? new Date();
  if (notAfter.getTime() <= now.getTime()) {
    throw new PushCertificateError(
      'expired',
      `the certificate expired on ${notAfter.toISOString()}; renew it in Apple's portal`,
    );
  }
  if (notBefore.getTime() > now.getTime()) {
    throw new PushCertificateError('not-yet-valid', `the certificate is valid only from ${notBefore.toISOString()}`);
  }
  return {
    certPem: certificate.toString(),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    topic,
    notBefore,
    notAfter,
    serialHex: certificate.serialNumber.toLowerCase(),
    fingerprint: certificate.fingerprint256,
    environments,
  };
}
