/**
 * A minimal MDM server for testing the simulator before the real mdm plugin exists: it speaks the same contract
 * (signed profile, SCEP, signed check-ins and command reports) using the real pki/protocol helpers, and records
 * everything it verified so tests can assert on what the simulator sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  buildCertRep,
  type CertificateAuthority,
  createCertificateAuthority,
  getCACapsResponse,
  getCACertResponse,
  issueDeviceCertificate,
  issueSigningCertificate,
  loadCertificateAuthority,
  type PemCertificateAndKey,
  parsePkiMessage,
  type ScepEnrollmentRequest,
  signProfile,
  type VerifiedSigner,
  verifyDetachedSignature,
} from '../../plugins/mdm/src/pki/index.js';
import {
  buildEnrollmentProfile,
  buildPlist,
  type CheckinMessage,
  type CommandReport,
  type EnrollmentProfileInput,
  type MdmCommand,
  parseCheckin,
  parseCommandReport,
} from '../../plugins/mdm/src/protocol/index.js';

export const PUBLIC_URL = 'https://gateway.test';
export const CHALLENGE = 'one-time-challenge-1';
export const TOPIC = 'com.apple.mgmt.External.5b3a1f4e-0000-4000-8000-000000000001';

interface TestPki {
  caPems: PemCertificateAndKey;
  ca: CertificateAuthority;
  signer: PemCertificateAndKey;
}
let pki: TestPki | undefined;
/** One CA + profile signer per test process (RSA generation is the slow part). */
export function testPki(): TestPki {
  if (!pki) {
    const caPems = createCertificateAuthority({
      commonName: 'Stub Gateway CA',
      organization: 'Example',
      validityDays: 30,
    });
    const ca = loadCertificateAuthority(caPems);
    const signer = issueSigningCertificate(ca, { commonName: 'Stub Profile Signing', validityDays: 30 });
    pki = { caPems, ca, signer };
  }
  return pki;
}

export function enrollmentProfileInput(overrides: Partial<EnrollmentProfileInput> = {}): EnrollmentProfileInput {
  const { ca } = testPki();
  return {
    identifier: 'com.example.gateway.enrollment',
    displayName: 'Example Device Management',
    organization: 'Example',
    rootCertificate: { der: ca.certDer },
    scep: {
      url: `${PUBLIC_URL}/scep`,
      challenge: CHALLENGE,
      subject: [
        ['O', 'Example'],
        ['CN', 'enrollment-42'],
      ],
    },
    mdm: { serverUrl: `${PUBLIC_URL}/mdm/server`, checkInUrl: `${PUBLIC_URL}/mdm/checkin`, topic: TOPIC },
    ...overrides,
  };
}

/** The signed enrollment profile (CMS DER), signed by `signer` (default: the stub's profile signer). */
export function signedEnrollmentProfile(
  overrides: Partial<EnrollmentProfileInput> = {},
  signer: PemCertificateAndKey = testPki().signer,
): Buffer {
  const plist = buildPlist(buildEnrollmentProfile(enrollmentProfileInput(overrides)));
  return signProfile(plist, signer.certPem, signer.keyPem, [testPki().caPems.certPem]);
}

export interface StubServer {
  url: string;
  checkins: (CheckinMessage & { signer: VerifiedSigner })[];
  reports: (CommandReport & { signer: VerifiedSigner })[];
  scepRequests: ScepEnrollmentRequest[];
  /** Commands handed out, one per request, on the next polls. */
  queue: MdmCommand[];
  /** Replace the next check-in response (status + body) once. */
  nextCheckinResponse?: { status: number; body: string };
  profile: Buffer;
  profileContentType: string;
  close(): Promise<void>;
}

export async function startStubServer(profile = signedEnrollmentProfile()): Promise<StubServer> {
  const { ca, caPems } = testPki();
  const stub: Omit<StubServer, 'url' | 'close'> = {
    checkins: [],
    reports: [],
    scepRequests: [],
    queue: [],
    profile,
    profileContentType: 'application/x-apple-aspen-config',
  };

  const verify = (req: http.IncomingMessage, body: Buffer): VerifiedSigner =>
    verifyDetachedSignature(String(req.headers['mdm-signature'] ?? ''), body, { caCertPem: caPems.certPem });

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://stub');
    const send = (status: number, type: string, payload: Buffer | string = '') => {
      res.writeHead(status, { 'content-type': type });
      res.end(payload);
    };
    try {
      if (url.pathname === '/enroll/profile') return send(200, stub.profileContentType, stub.profile);
      if (url.pathname === '/scep') {
        const op = url.searchParams.get('operation');
        if (op === 'GetCACaps') return send(200, 'text/plain', getCACapsResponse().body);
        if (op === 'GetCACert') return send(200, 'application/x-x509-ca-cert', getCACertResponse(ca).body);
        const request = parsePkiMessage(body, ca) as ScepEnrollmentRequest;
        stub.scepRequests.push(request);
        const accepted =
          request.messageType === 'RenewalReq' ? request.signerIssuedByCa : request.challengePassword === CHALLENGE;
        const reply = accepted
          ? buildCertRep({
              request,
              ca,
              issuedCertDer: issueDeviceCertificate(ca, { csrDer: request.csrDer, validityDays: 30 }).certDer,
            })
          : buildCertRep({ request, ca, failInfo: 'badRequest' });
        return send(200, 'application/x-pki-message', reply);
      }
      if (url.pathname === '/mdm/checkin' && req.method === 'PUT') {
        const signer = verify(req, body);
        stub.checkins.push({ ...parseCheckin(body), signer });
        const override = stub.nextCheckinResponse;
        stub.nextCheckinResponse = undefined;
        return override ? send(override.status, 'text/plain', override.body) : send(200, 'text/plain');
      }
      if (url.pathname === '/mdm/server' && req.method === 'PUT') {
        const signer = verify(req, body);
        stub.reports.push({ ...parseCommandReport(body), signer });
        const next = stub.queue.shift();
        return next ? send(200, 'application/xml', buildPlist(next)) : send(200, 'text/plain');
      }
      return send(404, 'text/plain', 'not found');
    } catch (error) {
      return send(401, 'text/plain', (error as Error).message);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(stub, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
