/**
 * The ACME client half of enrollment, as iOS 16+ runs it for a com.apple.security.acme payload with Attest: a P-384
 * key (the "Secure Enclave" key), an account, an order for the ClientIdentifier, device-attest-01 answered with an
 * "apple" attestation object, a CSR for the attested key, then the certificate chain.
 *
 * `TestAttestationRoot` stands in for Apple's attestation service: a root and a sub CA of its own, issuing leaves with
 * Apple's OIDs. Tests configure the gateway to trust its root instead of Apple's Enterprise Attestation Root CA.
 */
import { createHash, generateKeyPairSync, type KeyObject, webcrypto, X509Certificate } from 'node:crypto';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { encode } from 'cbor-x';
import { exportJWK, FlattenedSign, type JWK } from 'jose';
import { buildCertificationRequest, certificateFingerprintSha256, derToPem } from '../../plugins/mdm/src/pki/index.js';
import {
  type DeviceHttpClient,
  DeviceSimulatorError,
  type HttpResult,
  type RsaKeyPair,
} from './device-simulator-http.js';
import type { DeviceIdentity } from './device-simulator-scep.js';

export interface AcmeSettings {
  directoryUrl: string;
  clientIdentifier: string;
  keyType: string;
  keySize: number;
  hardwareBound: boolean;
  attest: boolean;
  /** Flattened subject, in order. */
  subject: { type: string; value: string }[];
  payloadUuid: string;
}

const OID = {
  serialNumber: '1.2.840.113635.100.8.9.1',
  udid: '1.2.840.113635.100.8.9.2',
  osVersion: '1.2.840.113635.100.8.10.1',
  sepOsVersion: '1.2.840.113635.100.8.10.2',
  freshnessCode: '1.2.840.113635.100.8.11.1',
};
const EC384: webcrypto.EcKeyImportParams & webcrypto.EcdsaParams = {
  name: 'ECDSA',
  namedCurve: 'P-384',
  hash: 'SHA-384',
};

async function caKeys() {
  return webcrypto.subtle.generateKey(EC384, true, ['sign', 'verify']);
}

/** What the attested leaf says; tests change fields to forge a bad attestation. */
export interface AttestationClaims {
  serialNumber: string;
  udid: string;
  osVersion: string;
  /** Left out unless given (ACME leaves carry none in the simulator). */
  sepOsVersion?: string;
  /** ACME: SHA-256 of the challenge token; DeviceInformation: the DeviceAttestationNonce itself; none when omitted. */
  freshness?: Buffer;
  publicKey: KeyObject;
}

/** A stand-in for Apple's Enterprise Attestation CA: root → sub CA → per-attestation leaves. */
export class TestAttestationRoot {
  private constructor(
    readonly rootPem: string,
    private readonly subKey: webcrypto.CryptoKey,
    private readonly subCert: x509.X509Certificate,
  ) {}

  static async create(name = 'Test Enterprise Attestation Root CA'): Promise<TestAttestationRoot> {
    const rootKeys = await caKeys();
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${name}`,
      keys: rootKeys,
      signingAlgorithm: EC384,
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 86_400_000 * 30),
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const subKeys = await caKeys();
    const sub = await x509.X509CertificateGenerator.create({
      subject: `CN=${name} Sub CA 1`,
      issuer: root.subject,
      publicKey: subKeys.publicKey,
      signingKey: rootKeys.privateKey,
      signingAlgorithm: EC384,
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 86_400_000 * 30),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
    });
    return new TestAttestationRoot(root.toString('pem'), subKeys.privateKey, sub);
  }

  /** The x5c chain, leaf first (the root is left out, as Apple leaves it out). */
  async attest(claims: AttestationClaims): Promise<Buffer[]> {
    const ext = (oid: string, value: Buffer | string) => new x509.Extension(oid, false, Buffer.from(value));
    const leaf = await x509.X509CertificateGenerator.create({
      subject: `CN=${createHash('sha256').update(claims.udid).digest('hex')}`,
      issuer: this.subCert.subject,
      publicKey: new x509.PublicKey(claims.publicKey.export({ type: 'spki', format: 'der' })),
      signingKey: this.subKey,
      signingAlgorithm: EC384,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      extensions: [
        ext(OID.serialNumber, claims.serialNumber),
        ext(OID.udid, claims.udid),
        ext(OID.osVersion, claims.osVersion),
        ...(claims.sepOsVersion ? [ext(OID.sepOsVersion, claims.sepOsVersion)] : []),
        ...(claims.freshness ? [ext(OID.freshnessCode, claims.freshness)] : []),
      ],
    });
    return [Buffer.from(leaf.rawData), Buffer.from(this.subCert.rawData)];
  }
}

/** Changes a test makes to what the device sends, to check the server refuses it. */
export interface AcmeTampering {
  claims?: (claims: AttestationClaims) => AttestationClaims;
  /** Sign the CSR with this key instead of the attested one. */
  csrKey?: RsaKeyPair;
}

type Recorder = (phase: 'acme', method: string, result: HttpResult, requestBytes: number) => void;

/** How a negative test bends one signed request: another algorithm, a chosen nonce, or another signing key. */
export interface JwsTampering {
  /** "none" sends an unsigned JWS. */
  alg?: string;
  nonce?: string;
  signWith?: KeyObject;
}

export type AcmeResponse = HttpResult & { json?: Record<string, unknown> };

/** An ACME client session: account key, nonce, and signed POSTs. Exported for negative tests. */
export class AcmeClient {
  private nonce?: string;
  kid?: string;
  private jwk?: JWK;
  private readonly accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  constructor(
    private readonly client: DeviceHttpClient,
    private readonly record: Recorder,
    readonly directory: Record<string, string>,
  ) {}

  static async open(client: DeviceHttpClient, directoryUrl: string, record: Recorder = () => {}): Promise<AcmeClient> {
    const dir = await client.request(directoryUrl, { method: 'GET', headers: {} });
    record('acme', 'GET', dir, 0);
    if (dir.status !== 200) throw new AcmeRefusedError(dir.status, {});
    return new AcmeClient(client, record, JSON.parse(dir.body.toString('utf8')) as Record<string, string>);
  }

  /** newAccount; later requests are signed with the account's kid. */
  async register(): Promise<void> {
    const account = await this.post(this.directory.newAccount, { termsOfServiceAgreed: true });
    this.kid = String(account.headers.location);
  }

  /** The nonce the next request would use (a negative test replays it). */
  async freshNonce(): Promise<string> {
    this.nonce ??= await this.fetchNonce();
    return this.nonce;
  }

  private async fetchNonce(): Promise<string> {
    const result = await this.client.request(this.directory.newNonce, { method: 'GET', headers: {} });
    this.record('acme', 'GET', result, 0);
    const nonce = result.headers['replay-nonce'];
    if (typeof nonce !== 'string') throw new DeviceSimulatorError('acme-refused', 'newNonce gave no Replay-Nonce');
    return nonce;
  }

  /** A signed POST (payload undefined = POST-as-GET); throws the server's problem document on a refusal. */
  async post(url: string, payload: unknown, tamper: JwsTampering = {}): Promise<AcmeResponse> {
    this.jwk ??= await exportJWK(this.accountKey.publicKey);
    const nonce = tamper.nonce ?? this.nonce ?? (await this.fetchNonce());
    this.nonce = undefined;
    const alg = tamper.alg ?? 'ES256';
    const header = this.kid ? { alg, nonce, url, kid: this.kid } : { alg, nonce, url, jwk: this.jwk };
    const bytes = payload === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    const jws =
      alg === 'none'
        ? {
            protected: Buffer.from(JSON.stringify(header)).toString('base64url'),
            payload: Buffer.from(bytes).toString('base64url'),
            signature: '',
          }
        : await new FlattenedSign(bytes).setProtectedHeader(header).sign(tamper.signWith ?? this.accountKey.privateKey);
    const body = Buffer.from(JSON.stringify(jws));
    const result = await this.client.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json', 'user-agent': 'mdmclient/1.0' },
      body,
    });
    this.record('acme', 'POST', result, body.length);
    const next = result.headers['replay-nonce'];
    if (typeof next === 'string') this.nonce = next;
    const type = String(result.headers['content-type'] ?? '');
    const json = type.includes('json')
      ? (JSON.parse(result.body.toString('utf8')) as Record<string, unknown>)
      : undefined;
    if (result.status >= 300) throw new AcmeRefusedError(result.status, json ?? {});
    return { ...result, json };
  }
}

/** The server refused: `type` is the ACME error ("urn:ietf:params:acme:error:badNonce"). */
export class AcmeRefusedError extends DeviceSimulatorError {
  readonly type: string;
  constructor(
    readonly status: number,
    readonly problem: Record<string, unknown>,
  ) {
    super('acme-refused', `ACME refused (${status}): ${String(problem.type)}: ${String(problem.detail ?? '')}`);
    this.type = String(problem.type ?? '');
  }
}

export interface AcmeExchangeResult {
  identity: DeviceIdentity;
  caCertPem: string;
}

/** A CSR for `keyPair` (what finalize carries); negative tests sign it with another key. */
export function acmeCsr(subject: AcmeSettings['subject'], keyPair: RsaKeyPair): Buffer {
  return buildCertificationRequest({ subject, publicKey: keyPair.publicKey, privateKey: keyPair.privateKey });
}

/** Runs one ACME enrollment for the payload; the device's key is a fresh P-384 key (the Secure Enclave's). */
export async function runAcmeEnrollment(options: {
  client: DeviceHttpClient;
  settings: AcmeSettings;
  device: { serialNumber: string; udid: string; osVersion: string };
  attestation: TestAttestationRoot;
  record: Recorder;
  tamper?: AcmeTampering;
}): Promise<AcmeExchangeResult> {
  const { client, settings, record } = options;
  if (settings.keyType !== 'ECSECPrimeRandom' || settings.keySize !== 384)
    throw new DeviceSimulatorError('profile-invalid', 'the simulator attests P-384 (ECSECPrimeRandom 384) keys only');
  const acme = await AcmeClient.open(client, settings.directoryUrl, record);
  await acme.register();
  const identifiers = [{ type: 'permanent-identifier', value: settings.clientIdentifier }];
  const order = await acme.post(acme.directory.newOrder, { identifiers });
  const orderUrl = String(order.headers.location);
  const [authzUrl] = (order.json?.authorizations ?? []) as string[];
  const authz = await acme.post(authzUrl, undefined);
  const challenges = (authz.json?.challenges ?? []) as { type: string; url: string; token: string }[];
  const challenge = challenges.find((c) => c.type === 'device-attest-01');
  if (!challenge) throw new DeviceSimulatorError('acme-refused', 'the authorization offers no device-attest-01');

  const key = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  let claims: AttestationClaims = {
    ...options.device,
    freshness: createHash('sha256').update(challenge.token).digest(),
    publicKey: key.publicKey,
  };
  claims = options.tamper?.claims?.(claims) ?? claims;
  const x5c = await options.attestation.attest(claims);
  const attObj = Buffer.from(encode({ fmt: 'apple', attStmt: { x5c }, authData: Buffer.alloc(0) }));
  await acme.post(challenge.url, { attObj: attObj.toString('base64url') });

  const csrKey = options.tamper?.csrKey ?? key;
  const csr = buildCertificationRequest({
    subject: settings.subject,
    publicKey: csrKey.publicKey,
    privateKey: csrKey.privateKey,
  });
  const finalized = await acme.post(String(order.json?.finalize), { csr: csr.toString('base64url') });
  const certUrl = String(finalized.json?.certificate ?? (await acme.post(orderUrl, undefined)).json?.certificate);
  const chain = await acme.post(certUrl, undefined);
  const pems = chain.body.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!pems || pems.length < 2) throw new DeviceSimulatorError('acme-refused', 'the certificate chain is incomplete');
  const leaf = new X509Certificate(pems[0]);
  if (
    !leaf.publicKey
      .export({ type: 'spki', format: 'der' })
      .equals(key.publicKey.export({ type: 'spki', format: 'der' }))
  )
    throw new DeviceSimulatorError('acme-refused', 'the issued certificate is not for the device key');
  return { identity: toAcmeIdentity(leaf.raw, key), caCertPem: derToPem(new X509Certificate(pems[1]).raw) };
}

function toAcmeIdentity(certDer: Buffer, keyPair: RsaKeyPair): DeviceIdentity {
  const cert = new X509Certificate(certDer);
  return {
    certPem: derToPem(certDer),
    certDer,
    keyPem: keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyPair,
    fingerprint: certificateFingerprintSha256(certDer),
    serialHex: cert.serialNumber.toLowerCase(),
    subject: cert.subject.split('\n').join(', '),
    notAfter: new Date(cert.validTo),
  };
}
