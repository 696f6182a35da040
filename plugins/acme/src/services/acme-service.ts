import { createHash, randomBytes, randomUUID } from 'node:crypto';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  type DeviceIdentityIssuer,
  DeviceIdentityRefusedError,
  type EnrollmentSessionService,
} from 'enrollment-gateway/sdk';
import type { JWK } from 'jose';
import { z } from 'zod';
import { parseAnchors, readAppleAttestation, readAttestedDevice, verifyChain } from '../protocol/attestation.js';
import { jwkThumbprint, parseJws, payloadJson, verifyJws } from '../protocol/jws.js';
import { AcmeProblem } from '../protocol/problems.js';
import {
  type AccountDoc,
  factId,
  type IdentityRecords,
  type OrderDoc,
  type OrderFactDoc,
  type OrderFactKind,
  type OrderRecords,
} from '../storage/records.js';
import type { NonceStore } from './nonces.js';

export const hashClientId = (value: string) => createHash('sha256').update(value).digest('hex');

const newOrderPayload = z.object({
  identifiers: z.array(z.object({ type: z.string(), value: z.string().min(1).max(512) })).length(1),
});
const challengePayload = z.object({
  attObj: z
    .string()
    .min(1)
    .max(64 * 1024),
});
const finalizePayload = z.object({
  csr: z
    .string()
    .min(1)
    .max(16 * 1024),
});

export interface AcmeRequest {
  payload: unknown;
  /** The requesting account (kid requests); newAccount carries a jwk instead. */
  account?: AccountDoc;
  jwk: JWK;
}

export interface AcmeReply {
  status: number;
  body?: unknown;
  location?: string;
  links?: string[];
  pem?: string;
}

export interface AcmeServiceDeps {
  publicUrl: string;
  nonces: NonceStore;
  orders: OrderRecords;
  identities: IdentityRecords;
  issuer: DeviceIdentityIssuer;
  sessions: EnrollmentSessionService;
  anchorsPem: string;
  orderTtlSeconds: number;
}

/** RFC 8555 server for device identities with device-attest-01; every transition is a unique insert. */
export class AcmeService {
  readonly base: string;
  private readonly anchors;

  constructor(private readonly deps: AcmeServiceDeps) {
    this.base = `${deps.publicUrl}/acme`;
    this.anchors = parseAnchors(deps.anchorsPem);
  }

  directory() {
    return {
      newNonce: `${this.base}/new-nonce`,
      newAccount: `${this.base}/new-account`,
      newOrder: `${this.base}/new-order`,
      revokeCert: `${this.base}/revoke-cert`,
      meta: { externalAccountRequired: false },
    };
  }

  nonce(): Promise<string> {
    return this.deps.nonces.mint();
  }

  /** Checks a JWS request: algorithm, url, signature (jwk or the account's key), then uses its nonce up. */
  async authenticate(body: unknown, path: string, expect: 'jwk' | 'kid'): Promise<AcmeRequest> {
    const parsed = parseJws(body, `${this.base}${path}`);
    let account: AccountDoc | undefined;
    let jwk: JWK;
    if (expect === 'jwk') {
      if (!parsed.header.jwk) throw new AcmeProblem('malformed', 'newAccount is signed with a "jwk" header');
      jwk = parsed.header.jwk;
    } else {
      const prefix = `${this.base}/account/`;
      if (!parsed.header.kid?.startsWith(prefix))
        throw new AcmeProblem('malformed', 'this request is signed with a "kid" header naming an account');
      account = (await this.deps.identities.account(parsed.header.kid.slice(prefix.length))) ?? undefined;
      if (!account) throw new AcmeProblem('accountDoesNotExist', 'no account has this key id');
      jwk = account.jwk;
    }
    const payload = payloadJson(await verifyJws(parsed, jwk));
    // Used up only by a signer who holds the key: a nonce is single-use, whatever the request asks.
    if (!(await this.deps.nonces.consume(parsed.header.nonce)))
      throw new AcmeProblem('badNonce', 'the nonce is unknown, expired or already used');
    return { payload, account, jwk };
  }

  async newAccount(request: AcmeRequest): Promise<AcmeReply> {
    const id = await jwkThumbprint(request.jwk);
    const onlyExisting = (request.payload as { onlyReturnExisting?: unknown } | undefined)?.onlyReturnExisting;
    const existing = await this.deps.identities.account(id);
    if (!existing && onlyExisting === true) throw new AcmeProblem('accountDoesNotExist', 'no account for this key');
    const created =
      !existing &&
      (await this.deps.identities.createAccount({
        _id: id,
        jwk: publicJwk(request.jwk),
        createdAt: new Date(),
      }));
    return {
      status: created ? 201 : 200,
      location: `${this.base}/account/${id}`,
      body: { status: 'valid', orders: `${this.base}/account/${id}/orders` },
    };
  }

  async newOrder(request: AcmeRequest): Promise<AcmeReply> {
    const account = requireAccount(request);
    const parsed = newOrderPayload.safeParse(request.payload);
    if (!parsed.success) throw new AcmeProblem('malformed', 'newOrder takes exactly one identifier');
    const [identifier] = parsed.data.identifiers;
    if (identifier.type !== 'permanent-identifier')
      throw new AcmeProblem('unsupportedIdentifier', 'only permanent-identifier (the ClientIdentifier) is issued');
    const clientIdHash = hashClientId(identifier.value);
    const clientId = await this.deps.identities.clientId(clientIdHash);
    if (!clientId || clientId.expiresAt <= new Date())
      throw new AcmeProblem('rejectedIdentifier', 'this ClientIdentifier is unknown or expired');
    if (clientId.purpose === 'enrollment') {
      const session = await this.deps.sessions.get(clientId.enrollmentId);
      if (session?.state !== 'downloaded')
        throw new AcmeProblem('rejectedIdentifier', 'this enrollment is not waiting for its identity');
    }
    const order: OrderDoc = {
      _id: randomUUID(),
      accountId: account._id,
      clientIdHash,
      identifier: identifier.value,
      token: randomBytes(32).toString('base64url'),
      expiresAt: new Date(Math.min(clientId.expiresAt.getTime(), Date.now() + this.deps.orderTtlSeconds * 1000)),
      createdAt: new Date(),
    };
    // One order per ClientIdentifier (a unique index): the same account asking again gets its open order back.
    if (!(await this.deps.orders.createOrder(order))) {
      const existing = await this.deps.orders.orderForClientId(clientIdHash);
      const facts = existing ? await this.deps.orders.facts(existing._id) : new Map();
      if (!existing || existing.accountId !== account._id || facts.has('finalizing'))
        throw new AcmeProblem('unauthorized', 'this ClientIdentifier was already used for an order');
      return { status: 200, location: this.url('order', existing._id), body: this.orderJson(existing, facts) };
    }
    return { status: 201, location: this.url('order', order._id), body: this.orderJson(order, new Map()) };
  }

  async getOrder(request: AcmeRequest, orderId: string): Promise<AcmeReply> {
    const { order, facts } = await this.ownOrder(request, orderId);
    return { status: 200, body: this.orderJson(order, facts) };
  }

  async getAuthorization(request: AcmeRequest, orderId: string): Promise<AcmeReply> {
    const { order, facts } = await this.ownOrder(request, orderId);
    return { status: 200, body: this.authorizationJson(order, facts) };
  }

  /** device-attest-01: verify the attestation and record it; a refusal stores nothing (the device may retry). */
  async respondToChallenge(request: AcmeRequest, orderId: string): Promise<AcmeReply> {
    const { order, facts } = await this.ownOrder(request, orderId);
    const up = [`<${this.url('authz', order._id)}>;rel="up"`];
    if (request.payload === undefined || facts.has('attested'))
      return { status: 200, body: this.challengeJson(order, facts), links: up };
    if (order.expiresAt <= new Date()) throw new AcmeProblem('unauthorized', 'this order has expired');
    const parsed = challengePayload.safeParse(request.payload);
    if (!parsed.success) throw new AcmeProblem('malformed', 'device-attest-01 is answered with { attObj }');
    const chain = readAppleAttestation(parsed.data.attObj);
    verifyChain(chain, this.anchors);
    const attested = readAttestedDevice(chain[0], order.token);
    const clientId = await this.deps.identities.clientId(order.clientIdHash);
    if (!clientId) throw new AcmeProblem('rejectedIdentifier', 'this ClientIdentifier is unknown');
    // A renewal names the device its enrollment is bound to; a first enrollment binds the attested UDID.
    const otherDevice =
      (clientId.udid && clientId.udid !== attested.udid) ||
      (clientId.serialNumber && clientId.serialNumber !== attested.serialNumber);
    if (otherDevice)
      throw new AcmeProblem('badAttestationStatement', 'the attested device is not the device of this enrollment');
    const fact: OrderFactDoc = {
      _id: factId(order._id, 'attested'),
      orderId: order._id,
      kind: 'attested',
      at: new Date(),
      udid: attested.udid,
      attested: { ...attested, publicKeySpki: attested.publicKeySpki.toString('base64') },
    };
    await this.deps.orders.recordFact(fact);
    const now = await this.deps.orders.facts(order._id);
    return { status: 200, body: this.challengeJson(order, now), links: up };
  }

  async finalize(request: AcmeRequest, orderId: string): Promise<AcmeReply> {
    const { order, facts } = await this.ownOrder(request, orderId);
    const attested = facts.get('attested')?.attested;
    if (facts.has('finalizing')) throw new AcmeProblem('orderNotReady', 'this order was already finalized');
    if (!attested || order.expiresAt <= new Date())
      throw new AcmeProblem('orderNotReady', 'the order is not ready: its challenge is not valid');
    const parsed = finalizePayload.safeParse(request.payload);
    if (!parsed.success) throw new AcmeProblem('malformed', 'finalize takes { csr }');
    const csrDer = Buffer.from(parsed.data.csr, 'base64url');
    await checkCsrKey(csrDer, Buffer.from(attested.publicKeySpki, 'base64'));
    const clientId = await this.deps.identities.clientId(order.clientIdHash);
    if (!clientId) throw new AcmeProblem('rejectedIdentifier', 'this ClientIdentifier is unknown');
    // The order's single use: whoever inserts 'finalizing' issues; a second finalize is refused.
    const claimed = await this.deps.orders.recordFact({
      _id: factId(order._id, 'finalizing'),
      orderId: order._id,
      kind: 'finalizing',
      at: new Date(),
    });
    if (!claimed) throw new AcmeProblem('orderNotReady', 'this order was already finalized');
    const identityRequest = { enrollmentId: clientId.enrollmentId, csrDer, udid: attested.udid, via: 'acme' };
    let issued: Awaited<ReturnType<DeviceIdentityIssuer['issue']>>;
    try {
      issued =
        clientId.purpose === 'renewal'
          ? await this.deps.issuer.renew(identityRequest)
          : await this.deps.issuer.issue(identityRequest);
    } catch (error) {
      if (DeviceIdentityRefusedError.is(error))
        throw new AcmeProblem(error.reason === 'bad-csr' ? 'badCSR' : 'unauthorized', error.message);
      throw error;
    }
    await this.deps.orders.recordFact({
      _id: factId(order._id, 'finalized'),
      orderId: order._id,
      kind: 'finalized',
      at: new Date(),
      udid: attested.udid,
      certificateSerial: issued.serial,
      certificatePem: [issued.certificateDer, issued.caCertificateDer].map(toPem).join(''),
      enrollmentId: clientId.enrollmentId,
      notAfter: issued.notAfter,
    });
    const now = await this.deps.orders.facts(order._id);
    return { status: 200, location: this.url('order', order._id), body: this.orderJson(order, now) };
  }

  async certificate(request: AcmeRequest, orderId: string): Promise<AcmeReply> {
    const { facts } = await this.ownOrder(request, orderId);
    const pem = facts.get('finalized')?.certificatePem;
    if (!pem) throw new AcmeProblem('orderNotReady', 'no certificate has been issued for this order');
    return { status: 200, pem };
  }

  /** RFC 8555 §7.6, by the account that ordered the certificate. */
  async revoke(request: AcmeRequest): Promise<AcmeReply> {
    const account = requireAccount(request);
    const certificate = z.object({ certificate: z.string().min(1) }).safeParse(request.payload);
    if (!certificate.success) throw new AcmeProblem('malformed', 'revokeCert takes { certificate }');
    const serial = readSerial(Buffer.from(certificate.data.certificate, 'base64url'));
    const fact = await this.deps.orders.finalizedBySerial(serial);
    const order = fact ? await this.deps.orders.order(fact.orderId) : null;
    if (!order || order.accountId !== account._id)
      throw new AcmeProblem('unauthorized', 'this account did not order this certificate');
    await this.deps.issuer.revoke(serial, 'revoked through ACME by its account');
    return { status: 200 };
  }

  private async ownOrder(
    request: AcmeRequest,
    orderId: string,
  ): Promise<{ order: OrderDoc; facts: Map<OrderFactKind, OrderFactDoc> }> {
    const account = requireAccount(request);
    const order = /^[0-9a-f-]{36}$/.test(orderId) ? await this.deps.orders.order(orderId) : null;
    // Another account's order is answered like an unknown one: order ids are not secret from every client.
    if (!order || order.accountId !== account._id)
      throw new AcmeProblem('unauthorized', 'no such order for this account');
    return { order, facts: await this.deps.orders.facts(order._id) };
  }

  private url(kind: 'order' | 'authz' | 'chall' | 'finalize' | 'cert', orderId: string): string {
    return `${this.base}/${kind}/${orderId}`;
  }

  private orderStatus(order: OrderDoc, facts: Map<OrderFactKind, OrderFactDoc>): string {
    if (facts.has('finalized')) return 'valid';
    if (facts.has('finalizing')) return 'processing';
    if (order.expiresAt <= new Date()) return 'invalid';
    return facts.has('attested') ? 'ready' : 'pending';
  }

  orderJson(order: OrderDoc, facts: Map<OrderFactKind, OrderFactDoc>) {
    const status = this.orderStatus(order, facts);
    return {
      status,
      expires: order.expiresAt.toISOString(),
      identifiers: [{ type: 'permanent-identifier', value: order.identifier }],
      authorizations: [this.url('authz', order._id)],
      finalize: this.url('finalize', order._id),
      ...(status === 'valid' ? { certificate: this.url('cert', order._id) } : {}),
    };
  }

  private authorizationJson(order: OrderDoc, facts: Map<OrderFactKind, OrderFactDoc>) {
    const attested = facts.has('attested');
    return {
      status: attested ? 'valid' : order.expiresAt <= new Date() ? 'expired' : 'pending',
      expires: order.expiresAt.toISOString(),
      identifier: { type: 'permanent-identifier', value: order.identifier },
      challenges: [this.challengeJson(order, facts)],
    };
  }

  private challengeJson(order: OrderDoc, facts: Map<OrderFactKind, OrderFactDoc>) {
    const attested = facts.get('attested');
    return {
      type: 'device-attest-01',
      url: this.url('chall', order._id),
      status: attested ? 'valid' : 'pending',
      token: order.token,
      ...(attested ? { validated: attested.at.toISOString() } : {}),
    };
  }
}

function requireAccount(request: AcmeRequest): AccountDoc {
  if (!request.account) throw new AcmeProblem('accountDoesNotExist', 'this request needs an account');
  return request.account;
}

function publicJwk(jwk: JWK): JWK {
  const { kty, crv, x, y, n, e } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function readSerial(der: Buffer): string {
  try {
    return new x509.X509Certificate(der).serialNumber.toLowerCase();
  } catch {
    throw new AcmeProblem('malformed', 'the certificate is not DER');
  }
}

/** The CSR must verify and certify exactly the attested (hardware-bound) key. */
async function checkCsrKey(csrDer: Buffer, attestedSpki: Buffer): Promise<void> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrDer);
  } catch {
    throw new AcmeProblem('badCSR', 'the CSR is not DER PKCS#10');
  }
  if (!(await csr.verify().catch(() => false))) throw new AcmeProblem('badCSR', 'the CSR signature does not verify');
  if (!Buffer.from(csr.publicKey.rawData).equals(attestedSpki))
    throw new AcmeProblem('badCSR', 'the CSR key is not the attested key');
}
