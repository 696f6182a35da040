/**
 * The SCEP client half of enrollment, as iOS runs it for a com.apple.security.scep payload: GetCACaps, GetCACert,
 * then PKIOperation with a PKCSReq (or a RenewalReq signed by the current identity).
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import {
  buildPkcsReq,
  type ContentCipher,
  certificateFingerprintSha256,
  type DigestName,
  derToPem,
  parseCertRep,
} from '../../plugins/mdm/src/pki/index.js';
import {
  type DeviceHttpClient,
  DeviceHttpError,
  DeviceSimulatorError,
  type HttpResult,
  type RsaKeyPair,
} from './device-simulator-http.js';
import type { ScepSettings } from './device-simulator-profile.js';

/** The device's SCEP-issued identity: signs every check-in and command report (Mdm-Signature). */
export interface DeviceIdentity {
  certPem: string;
  certDer: Buffer;
  /** PKCS#8 PEM of the private key (exported on first access; fleets rarely need it). */
  readonly keyPem: string;
  keyPair: RsaKeyPair;
  /** SHA-256 of the certificate DER, lowercase hex (as the pki helpers report it). */
  fingerprint: string;
  serialHex: string;
  subject: string;
  notAfter: Date;
}

export interface ScepExchangeResult {
  identity: DeviceIdentity;
  /** The CA certificate GetCACert returned (the CertRep signer must chain to it). */
  caCertPem: string;
  capabilities: string[];
}

type Recorder = (phase: 'scep', method: string, result: HttpResult, requestBytes: number) => void;

export function toIdentity(certDer: Buffer, keyPair: RsaKeyPair): DeviceIdentity {
  const cert = new X509Certificate(certDer);
  let keyPem: string | undefined;
  return {
    certPem: derToPem(certDer),
    certDer,
    get keyPem() {
      keyPem ??= keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      return keyPem;
    },
    keyPair,
    fingerprint: certificateFingerprintSha256(certDer),
    serialHex: cert.serialNumber.toLowerCase(),
    subject: cert.subject.split('\n').join(', '),
    notAfter: new Date(cert.validTo),
  };
}

function operationUrl(settings: ScepSettings, operation: string, message?: string): string {
  const url = new URL(settings.url);
  url.searchParams.set('operation', operation);
  if (message !== undefined) url.searchParams.set('message', message);
  return url.href;
}

async function get(
  client: DeviceHttpClient,
  url: string,
  record: Recorder,
  expect: (r: HttpResult) => boolean,
): Promise<HttpResult> {
  const result = await client.request(url, { method: 'GET', headers: { 'user-agent': 'MDM/1.0' } });
  record('scep', 'GET', result, 0);
  if (result.status !== 200 || !expect(result))
    throw new DeviceHttpError('scep', result.status, result.body, result.url);
  return result;
}

/** iOS pins the SCEP CA when the payload carries CAFingerprint (an MD5, SHA-1 or SHA-256 hash of its DER). */
function checkFingerprint(expected: Buffer | undefined, caDer: Buffer): void {
  if (!expected) return;
  const algorithm = { 16: 'md5', 20: 'sha1', 32: 'sha256' }[expected.length];
  if (!algorithm) throw new DeviceSimulatorError('scep-ca', `CAFingerprint of ${expected.length} bytes is not a hash`);
  if (!createHash(algorithm).update(caDer).digest().equals(expected)) {
    throw new DeviceSimulatorError('scep-ca', 'GetCACert certificate does not match CAFingerprint');
  }
}

/** Runs one SCEP enrollment. `renewWith` switches to a RenewalReq signed by that identity. */
export async function runScepEnrollment(options: {
  client: DeviceHttpClient;
  settings: ScepSettings;
  keyPair: RsaKeyPair;
  record: Recorder;
  renewWith?: DeviceIdentity;
}): Promise<ScepExchangeResult> {
  const { client, settings, record } = options;
  const caps = await get(client, operationUrl(settings, 'GetCACaps', settings.caIdentifier), record, () => true);
  const capabilities = caps.body
    .toString('utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const has = (cap: string) => capabilities.some((c) => c.toLowerCase() === cap.toLowerCase());

  const caResult = await get(client, operationUrl(settings, 'GetCACert', settings.caIdentifier), record, (r) =>
    String(r.headers['content-type'] ?? '').startsWith('application/x-x509-ca-cert'),
  );
  let caCert: X509Certificate;
  try {
    caCert = new X509Certificate(caResult.body);
  } catch (error) {
    throw new DeviceSimulatorError('scep-ca', 'GetCACert did not return a DER certificate', { cause: error });
  }
  checkFingerprint(settings.caFingerprint, caCert.raw);
  const caCertPem = derToPem(caCert.raw);

  // Strongest of what the CA advertises, as iOS picks: AES over 3DES, SHA-256 over SHA-1.
  const cipher: ContentCipher = has('AES') ? 'aes-256-cbc' : 'des-ede3-cbc';
  const digest: DigestName = has('SHA-256') ? 'sha256' : 'sha1';
  const renewal = options.renewWith;
  const request = buildPkcsReq({
    subject: settings.subject,
    keyPair: options.keyPair,
    caCertPem,
    challenge: renewal ? undefined : settings.challenge,
    messageType: renewal ? 'RenewalReq' : 'PKCSReq',
    signer: renewal ? { certPem: renewal.certPem, key: renewal.keyPair.privateKey } : undefined,
    cipher,
    digest,
    // Pool keys may be shared between simulated devices; a random ID keeps every transaction distinct.
    transactionId: randomBytes(16).toString('hex').toUpperCase(),
  });

  let reply: HttpResult;
  if (has('POSTPKIOperation')) {
    reply = await client.request(operationUrl(settings, 'PKIOperation'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-pki-message', 'user-agent': 'MDM/1.0' },
      body: request.der,
    });
  } else {
    reply = await client.request(operationUrl(settings, 'PKIOperation', request.der.toString('base64')), {
      method: 'GET',
      headers: { 'user-agent': 'MDM/1.0' },
    });
  }
  record('scep', has('POSTPKIOperation') ? 'POST' : 'GET', reply, request.der.length);
  if (reply.status !== 200) throw new DeviceHttpError('scep', reply.status, reply.body, reply.url);

  const outcome = parseCertRep(reply.body, request, { caCertPem });
  if (outcome.status === 'failure') {
    throw new DeviceSimulatorError('scep-failure', `SCEP CertRep FAILURE (failInfo ${outcome.failInfo})`);
  }
  if (outcome.status === 'pending') throw new DeviceSimulatorError('scep-pending', 'SCEP CertRep PENDING');
  return { identity: toIdentity(outcome.certificateDer, options.keyPair), caCertPem, capabilities };
}
