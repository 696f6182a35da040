/**
 * A local stand-in for Apple's APNs HTTP/2 provider API, for tests and benchmarks.
 *
 * It is strict on purpose: TLS client-certificate auth against a test CA, the topic must equal the client
 * certificate's subject UID, and the request must look like an MDM push. Replies follow Apple's status codes and
 * `reason` strings. Behaviour is programmable per device token, and every request is recorded for assertions.
 * Also creates the test PKI (CA, server certificate, MDM push certificates) with node-forge for the structure and
 * node:crypto for the RSA signatures.
 */
import { createPublicKey, generateKeyPair, randomBytes, randomUUID, sign } from 'node:crypto';
import http2, {
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import forge from 'node-forge';

// ---- Test PKI ----

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface IssuedPushCertificate extends PemPair {
  topic: string;
}

export interface PushCertificateSpec {
  /** Defaults to com.apple.mgmt.External.<random uuid>. */
  topic?: string;
  /** False issues an ordinary client certificate (UID not under com.apple.mgmt., no Apple push extensions). */
  mdm?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Reuse an existing key (renewals keep the CSR key); a fresh RSA 2048 key otherwise. */
  keyPem?: string;
  /** Sign with another issuer than the test CA (for example an untrusted one). */
  issuer?: PemPair;
}

export interface TestPki {
  ca: PemPair;
  server: PemPair;
  issuePushCertificate(spec?: PushCertificateSpec): Promise<IssuedPushCertificate>;
}

/** OIDs Apple puts in push certificates (development and production APNs environments). */
export const APPLE_PUSH_DEVELOPMENT_OID = '1.2.840.113635.100.6.3.1';
export const APPLE_PUSH_PRODUCTION_OID = '1.2.840.113635.100.6.3.2';
const UID_OID = '0.9.2342.19200300.100.1.1';
const DER_NULL = String.fromCharCode(0x05, 0x00);
const DAY_MS = 86_400_000;

type ForgeSubject = forge.pki.CertificateField[];
interface ForgePkiStructure {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
}

const generateRsa = promisify(generateKeyPair);

export async function generateRsaKeyPem(): Promise<{ keyPem: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { keyPem: privateKey, publicKeyPem: publicKey };
}

function publicKeyPemOf(keyPem: string): string {
  return createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
}

interface IssueSpec {
  subject: ForgeSubject;
  publicKeyPem: string;
  issuer: { subject: ForgeSubject; keyPem: string };
  notBefore: Date;
  notAfter: Date;
  extensions: object[];
}

/** Builds the certificate with forge and signs the TBSCertificate DER with node:crypto. */
function issueCertificate(spec: IssueSpec): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(spec.publicKeyPem);
  // Positive serial: clear the top bit of the first byte.
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = spec.notBefore;
  cert.validity.notAfter = spec.notAfter;
  cert.setSubject(spec.subject);
  cert.setIssuer(spec.issuer.subject);
  cert.setExtensions(spec.extensions);
  cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  const tbs = (forge.pki as unknown as ForgePkiStructure).getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  const tbsDer = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', tbsDer, spec.issuer.keyPem).toString('binary');
  return forge.pki.certificateToPem(cert);
}

function subjectOf(certPem: string): ForgeSubject {
  return forge.pki.certificateFromPem(certPem).subject.attributes as ForgeSubject;
}

export async function createTestPki(): Promise<TestPki> {
  const now = Date.now();
  const [caKey, serverKey] = await Promise.all([generateRsaKeyPem(), generateRsaKeyPem()]);
  const caSubject: ForgeSubject = [
    { name: 'commonName', value: 'APNs Stand-in Test CA' },
    { name: 'organizationName', value: 'enrollment-gateway tests' },
  ];
  const caCertPem = issueCertificate({
    subject: caSubject,
    publicKeyPem: caKey.publicKeyPem,
    issuer: { subject: caSubject, keyPem: caKey.keyPem },
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 3650 * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const ca = { certPem: caCertPem, keyPem: caKey.keyPem };
  const server = {
    keyPem: serverKey.keyPem,
    certPem: issueCertificate({
      subject: [{ name: 'commonName', value: 'localhost' }],
      publicKeyPem: serverKey.publicKeyPem,
      issuer: { subject: caSubject, keyPem: caKey.keyPem },
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 365 * DAY_MS),
      extensions: [
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    }),
  };

  async function issuePushCertificate(spec: PushCertificateSpec = {}): Promise<IssuedPushCertificate> {
    const mdm = spec.mdm ?? true;
    const uuid = randomUUID().toUpperCase();
    const topic = spec.topic ?? (mdm ? `com.apple.mgmt.External.${uuid}` : `com.example.client.${uuid}`);
    const key = spec.keyPem
      ? { keyPem: spec.keyPem, publicKeyPem: publicKeyPemOf(spec.keyPem) }
      : await generateRsaKeyPem();
    const issuer = spec.issuer ?? ca;
    const extensions: object[] = [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', clientAuth: true },
    ];
    if (mdm) {
      extensions.push(
        { id: APPLE_PUSH_DEVELOPMENT_OID, value: DER_NULL },
        { id: APPLE_PUSH_PRODUCTION_OID, value: DER_NULL },
      );
    }
    const certPem = issueCertificate({
      subject: [
        { type: UID_OID, value: topic, valueTagClass: forge.asn1.Type.UTF8 } as unknown as forge.pki.CertificateField,
        { name: 'commonName', value: mdm ? `APSP:${uuid}` : `client ${uuid}` },
        { name: 'countryName', value: 'US' },
      ],
      publicKeyPem: key.publicKeyPem,
      issuer: { subject: subjectOf(issuer.certPem), keyPem: issuer.keyPem },
      notBefore: spec.notBefore ?? new Date(now - DAY_MS),
      notAfter: spec.notAfter ?? new Date(now + 365 * DAY_MS),
      extensions,
    });
    return { certPem, keyPem: key.keyPem, topic };
  }

  return { ca, server, issuePushCertificate };
}

// ---- Stand-in server ----

/** What the stand-in does with one accepted push. */
export type StandinBehaviour =
  | { kind: 'ok' }
  | { kind: 'error'; status: number; reason: string; timestamp?: number; retryAfterSeconds?: number }
  /** GOAWAY that does not cover this stream (Apple closing a connection): the client must retry elsewhere. */
  | { kind: 'goaway' }
  /** Drop the whole connection without an answer. */
  | { kind: 'destroy' }
  /** Never answer (for client timeouts). */
  | { kind: 'hang' };

export const standinReplies = {
  ok: (): StandinBehaviour => ({ kind: 'ok' }),
  error: (
    status: number,
    reason: string,
    extra: { timestamp?: number; retryAfterSeconds?: number } = {},
  ): StandinBehaviour => ({
    kind: 'error',
    status,
    reason,
    ...extra,
  }),
  goaway: (): StandinBehaviour => ({ kind: 'goaway' }),
  destroy: (): StandinBehaviour => ({ kind: 'destroy' }),
  hang: (): StandinBehaviour => ({ kind: 'hang' }),
};

export interface RecordedPush {
  session: number;
  streamId: number;
  method: string;
  path: string;
  token: string;
  topic: string | undefined;
  pushType: string | undefined;
  priority: string | undefined;
  expiration: string | undefined;
  body: string;
  pushMagic: string | undefined;
  /** Status the stand-in answered, or the behaviour kind when it did not answer. */
  outcome: number | 'goaway' | 'destroy' | 'hang';
}

export interface ApnsStandinOptions {
  /** Trust anchor for client certificates plus the server certificate; see createTestPki. */
  pki: Pick<TestPki, 'ca' | 'server'>;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients (Apple: about 1000). */
  maxConcurrentStreams?: number;
  /** Keep every request in `requests` (true); benchmarks may turn it off and read `counters`. */
  record?: boolean;
  defaultBehaviour?: StandinBehaviour;
}

interface SessionState {
  id: number;
  uid: string | undefined;
  open: number;
  maxOpen: number;
  goingAway: boolean;
  lastStreamId: number;
}

const TOKEN_PATH = /^\/3\/device\/([0-9a-fA-F]+)$/;

export class ApnsStandin {
  readonly requests: RecordedPush[] = [];
  readonly counters = { requests: 0, accepted: 0, sessions: 0, tlsFailures: 0 };
  /** Highest number of simultaneously open streams seen on any one connection. */
  maxOpenStreamsPerSession = 0;
  private readonly behaviours = new Map<string, { sequence: StandinBehaviour[]; next: number }>();
  private readonly sessions = new Map<ServerHttp2Session, SessionState>();
  private readonly record: boolean;
  private defaultBehaviour: StandinBehaviour;

  private constructor(
    private readonly server: Http2SecureServer,
    options: ApnsStandinOptions,
  ) {
    this.record = options.record ?? true;
    this.defaultBehaviour = options.defaultBehaviour ?? { kind: 'ok' };
    server.on('session', (session) => this.onSession(session));
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    server.on('tlsClientError', () => {
      this.counters.tlsFailures++;
    });
  }

  static async start(options: ApnsStandinOptions): Promise<ApnsStandin> {
    const server = http2.createSecureServer({
      key: options.pki.server.keyPem,
      cert: options.pki.server.certPem,
      ca: options.pki.ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: false,
      maxSessionMemory: 64,
      settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 },
    });
    const standin = new ApnsStandin(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return standin;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Programs a token: behaviours are used in order, the last one repeats ("500, 500, then ok"). */
  behave(token: string, ...sequence: StandinBehaviour[]): void {
    if (sequence.length === 0) throw new Error('behave() needs at least one behaviour');
    this.behaviours.set(token.toLowerCase(), { sequence, next: 0 });
  }

  setDefaultBehaviour(behaviour: StandinBehaviour): void {
    this.defaultBehaviour = behaviour;
  }

  requestsFor(token: string): RecordedPush[] {
    const wanted = token.toLowerCase();
    return this.requests.filter((r) => r.token.toLowerCase() === wanted);
  }

  async close(): Promise<void> {
    for (const session of this.sessions.keys()) session.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onSession(session: ServerHttp2Session): void {
    const peer = (session.socket as TLSSocket).getPeerCertificate();
    const uid = peer?.subject ? (peer.subject as unknown as Record<string, string | undefined>).UID : undefined;
    const state: SessionState = {
      id: ++this.counters.sessions,
      uid,
      open: 0,
      maxOpen: 0,
      goingAway: false,
      lastStreamId: 0,
    };
    this.sessions.set(session, state);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', () => this.sessions.delete(session));
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const state = this.sessions.get(stream.session as ServerHttp2Session);
    if (!state) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    state.open++;
    if (!state.goingAway && (stream.id ?? 0) > state.lastStreamId) state.lastStreamId = stream.id ?? 0;
    if (state.open > state.maxOpen) {
      state.maxOpen = state.open;
      if (state.open > this.maxOpenStreamsPerSession) this.maxOpenStreamsPerSession = state.open;
    }
    stream.once('close', () => {
      state.open--;
    });
    stream.on('error', () => {});
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => this.answer(stream, headers, body, state));
  }

  private answer(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: string, state: SessionState): void {
    this.counters.requests++;
    if (state.goingAway && (stream.id ?? 0) > state.lastStreamId) {
      // Not covered by our GOAWAY: the client already treats it as refused.
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const method = String(headers[':method']);
    const path = String(headers[':path']);
    const match = TOKEN_PATH.exec(path);
    const seen: RecordedPush = {
      session: state.id,
      streamId: stream.id ?? 0,
      method,
      path,
      token: match ? match[1] : '',
      topic: headers['apns-topic'] as string | undefined,
      pushType: headers['apns-push-type'] as string | undefined,
      priority: headers['apns-priority'] as string | undefined,
      expiration: headers['apns-expiration'] as string | undefined,
      body,
      pushMagic: mdmPushMagic(body),
      outcome: 0,
    };
    if (this.record) this.requests.push(seen);
    const behaviour = validate(seen, match !== null, state.uid) ?? this.behaviourFor(seen.token);
    seen.outcome = behaviour.kind === 'ok' ? 200 : behaviour.kind === 'error' ? behaviour.status : behaviour.kind;
    switch (behaviour.kind) {
      case 'ok':
        this.counters.accepted++;
        stream.respond(
          { ':status': 200, 'apns-id': (headers['apns-id'] as string | undefined) ?? randomUUID() },
          { endStream: true },
        );
        return;
      case 'error': {
        const reply: Record<string, unknown> = { reason: behaviour.reason };
        if (behaviour.timestamp !== undefined) reply.timestamp = behaviour.timestamp;
        const responseHeaders: Record<string, string | number> = {
          ':status': behaviour.status,
          'content-type': 'application/json',
          'apns-id': (headers['apns-id'] as string | undefined) ?? randomUUID(),
        };
        if (behaviour.retryAfterSeconds !== undefined) responseHeaders['retry-after'] = behaviour.retryAfterSeconds;
        stream.respond(responseHeaders);
        stream.end(JSON.stringify(reply));
        return;
      }
      case 'goaway': {
        // Like Apple rotating a connection: refuse this stream (the client must retry it elsewhere), announce
        // GOAWAY covering every stream already received so they still get answers, then close when they are done.
        state.goingAway = true;
        const session = stream.session as ServerHttp2Session;
        session.goaway(http2.constants.NGHTTP2_NO_ERROR, state.lastStreamId, Buffer.from('{"reason":"Shutdown"}'));
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        session.close();
        return;
      }
      case 'destroy':
        (stream.session as ServerHttp2Session).destroy();
        return;
      case 'hang':
        return;
    }
  }

  private behaviourFor(token: string): StandinBehaviour {
    const programmed = this.behaviours.get(token.toLowerCase());
    if (!programmed) return this.defaultBehaviour;
    const behaviour = programmed.sequence[Math.min(programmed.next, programmed.sequence.length - 1)];
    programmed.next++;
    return behaviour;
  }
}

function mdmPushMagic(body: string): string | undefined {
  if (!body) return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && typeof (parsed as { mdm?: unknown }).mdm === 'string') {
      return (parsed as { mdm: string }).mdm;
    }
  } catch {
    // not JSON: reported below as a bad payload
  }
  return undefined;
}

/** Apple's checks, in Apple's reason vocabulary; `BadMdmPayload` is the stand-in's own (Apple has no exact twin). */
function validate(
  push: RecordedPush,
  pathMatches: boolean,
  certificateUid: string | undefined,
): StandinBehaviour | undefined {
  const { method, token, topic, pushType, priority, expiration, body, pushMagic } = push;
  const reject = (status: number, reason: string): StandinBehaviour => ({ kind: 'error', status, reason });
  if (method !== 'POST') return reject(405, 'MethodNotAllowed');
  if (!pathMatches) return reject(404, 'BadPath');
  if (token.length < 64) return reject(400, 'BadDeviceToken');
  if (!topic) return reject(400, 'MissingTopic');
  if (topic !== certificateUid) return reject(400, 'TopicDisallowed');
  if (pushType !== 'mdm') return reject(400, 'InvalidPushType');
  if (priority !== undefined && priority !== '10' && priority !== '5') return reject(400, 'BadPriority');
  if (expiration === undefined || !/^\d+$/.test(expiration)) return reject(400, 'BadExpirationDate');
  if (!body) return reject(400, 'PayloadEmpty');
  if (!pushMagic) return reject(400, 'BadMdmPayload');
  return undefined;
}
