/**
 * SCEP certificate-authority side (RFC 8894): capabilities, CA certificate, PKIOperation parsing and CertRep
 * building. Pure functions; the plugin's HTTP routes decide on challenges, records and issuance policy.
 */
import { X509Certificate } from 'node:crypto';
import { parseDer, sequenceOf } from './asn1-guard.js';
import { type CertificateAuthority, type CertificateSummary, summarizeCertificate } from './certificates.js';
import { type ContentCipher, decryptEnvelopedData, encryptEnvelopedData } from './cms-enveloped-data.js';
import {
  buildCertificatesOnly,
  buildSignedData,
  checkSignerInfo,
  findSignerCertificate,
  parseSignedData,
} from './cms-signed-data.js';
import { parseCertificationRequest } from './csr.js';
import {
  EnvelopeDecryptionError,
  PkiFormatError,
  ScepError,
  type ScepFailInfo,
  type ScepReplyTarget,
} from './errors.js';
import { type DistinguishedName, decodeName, formatName } from './names.js';
import { newNonce, readScepHeader, ScepMessageType, ScepPkiStatus, scepAttributes } from './scep-common.js';

/**
 * What we advertise. iOS/macOS pick SHA-256 and AES from this list (without a SHA-x entry iOS refuses the
 * CA, without AES it falls back to 3DES); POSTPKIOperation lets them POST binary instead of base64 GET;
 * Renewal announces RenewalReq; SCEPStandard is the RFC 8894 shorthand for AES + POST + SHA-256.
 * Decryption still accepts 3DES and SHA-1 for older clients — we just do not invite them.
 */
export const SCEP_CA_CAPABILITIES: readonly string[] = [
  'AES',
  'POSTPKIOperation',
  'Renewal',
  'SCEPStandard',
  'SHA-256',
];

export function getCACapsResponse(): { contentType: 'text/plain'; body: string } {
  return { contentType: 'text/plain', body: SCEP_CA_CAPABILITIES.join('\n') };
}

/** A single CA that is also the SCEP recipient: RFC 8894 §4.2.1.1 says answer with the bare DER certificate. */
export function getCACertResponse(ca: CertificateAuthority): {
  contentType: 'application/x-x509-ca-cert';
  body: Buffer;
} {
  return { contentType: 'application/x-x509-ca-cert', body: ca.certDer };
}

interface ScepRequestBase extends ScepReplyTarget {
  /** The request's signer: self-signed for PKCSReq, an existing device certificate for RenewalReq. */
  signer: CertificateSummary;
  /** Whether the signer certificate was issued by our CA (always true for an accepted RenewalReq). */
  signerIssuedByCa: boolean;
  /** Cipher the client used for its envelope; the CertRep answers with the same one (it provably supports it). */
  contentEncryption: ContentCipher;
}

export interface ScepEnrollmentRequest extends ScepRequestBase {
  messageType: 'PKCSReq' | 'RenewalReq';
  csrDer: Buffer;
  /** As sent; checking it is the caller's job. */
  challengePassword?: string;
  csrSubject: DistinguishedName;
  csrSubjectString: string;
  csrPublicKeyPem: string;
}

/** CertPoll (GetCertInitial in pre-RFC drafts): the client asks about a PENDING request. */
export interface ScepPollRequest extends ScepRequestBase {
  messageType: 'CertPoll';
  issuer: string;
  subject: string;
}

export type ScepRequest = ScepEnrollmentRequest | ScepPollRequest;

/**
 * A PKIOperation message whose outer SignedData verified against its own signer certificate: everything a CA
 * can know without its private key (RFC 8894 §3: the CSR, and so the challenge, is inside the envelope that
 * only the CA key opens). Rate limits and refusals that need no decryption go here, before `openPkiMessage`.
 */
export interface ScepSignedMessage {
  replyTo: ScepReplyTarget;
  messageType: 'PKCSReq' | 'RenewalReq' | 'CertPoll';
  signerCert: X509Certificate;
  /** The pkcsPKIEnvelope, still encrypted. */
  envelopeDer: Buffer;
}

/** Verifies and opens a PKIOperation message: `readPkiMessage` then `openPkiMessage`. */
export function parsePkiMessage(der: Buffer, ca: CertificateAuthority): ScepRequest {
  return openPkiMessage(readPkiMessage(der), ca);
}

/**
 * Reads the outer SignedData and checks its signature with the signer's public key; no private-key work.
 * Throws ScepError; when `replyTo` is set on it, answer with buildCertRep({ request: error.replyTo,
 * failInfo: error.failInfo }) rather than a bare HTTP error.
 */
export function readPkiMessage(der: Buffer): ScepSignedMessage {
  let signed: ReturnType<typeof parseSignedData>;
  try {
    signed = parseSignedData(der);
    if (signed.signerInfos.length !== 1)
      throw new PkiFormatError('malformed', 'pkiMessage must have exactly one signer');
  } catch (error) {
    throw asScepError(error);
  }
  const [signerInfo] = signed.signerInfos;
  const signerCertDer = findSignerCertificate(signed.certificates, signerInfo.sid);
  if (!signerCertDer)
    throw new ScepError('malformed', 'badMessageCheck', 'pkiMessage does not include its signer certificate');
  let header: ReturnType<typeof readScepHeader>;
  let signerCert: X509Certificate;
  try {
    header = readScepHeader(signerInfo);
    signerCert = new X509Certificate(signerCertDer);
  } catch (error) {
    throw asScepError(error);
  }
  if (!header.senderNonce) throw new ScepError('malformed', 'badRequest', 'request lacks senderNonce');
  const replyTo: ScepReplyTarget = {
    transactionId: header.transactionId,
    senderNonce: header.senderNonce,
    signerCertDer,
    digest: signerInfo.digest,
  };

  if (signed.eContent === undefined)
    throw new ScepError('malformed', 'badRequest', 'request has no pkcsPKIEnvelope', replyTo);
  const check = checkSignerInfo(signerInfo, signed.eContent, signerCert.publicKey);
  if (check !== 'ok') {
    const reason =
      check === 'digest-mismatch' ? 'digest-mismatch' : check === 'bad-signature' ? 'bad-signature' : 'malformed';
    throw new ScepError(reason, 'badMessageCheck', `request signature check failed: ${check}`, replyTo);
  }
  const messageType = header.messageType;
  if (messageType !== 'PKCSReq' && messageType !== 'RenewalReq' && messageType !== 'CertPoll') {
    throw new ScepError('unsupported', 'badRequest', `messageType ${header.messageTypeCode} is not supported`, replyTo);
  }
  return { replyTo, messageType, signerCert, envelopeDer: signed.eContent };
}

/** Decrypts the envelope with the CA key (the one private-key step) and reads the CSR or poll inside. */
export function openPkiMessage(message: ScepSignedMessage, ca: CertificateAuthority): ScepRequest {
  const { replyTo, messageType, signerCert } = message;
  const signerCertDer = replyTo.signerCertDer;
  let envelope: ReturnType<typeof decryptEnvelopedData>;
  try {
    envelope = decryptEnvelopedData(parseDer(message.envelopeDer), ca.certDer, ca.key);
  } catch (error) {
    if (error instanceof EnvelopeDecryptionError)
      throw new ScepError('decrypt-failed', 'badMessageCheck', error.message, replyTo, { cause: error });
    throw asScepError(error, replyTo);
  }
  const signerIssuedByCa = signerCert.checkIssued(ca.certificate) && signerCert.verify(ca.certificate.publicKey);
  const base: ScepRequestBase = {
    ...replyTo,
    signer: summarizeCertificate(signerCertDer),
    signerIssuedByCa,
    contentEncryption: envelope.cipher,
  };

  if (messageType === 'CertPoll') {
    try {
      const [issuerNode, subjectNode] = sequenceOf(parseDer(envelope.content), 'IssuerAndSubject');
      return {
        ...base,
        messageType,
        issuer: formatName(decodeName(issuerNode)),
        subject: formatName(decodeName(subjectNode)),
      };
    } catch (error) {
      throw asScepError(error, replyTo);
    }
  }

  let csr: ReturnType<typeof parseCertificationRequest>;
  try {
    csr = parseCertificationRequest(envelope.content);
  } catch (error) {
    throw new ScepError('bad-csr', 'badRequest', `CSR rejected: ${(error as Error).message}`, replyTo, {
      cause: error,
    });
  }
  if (messageType === 'PKCSReq' && !signerCert.publicKey.equals(csr.publicKey)) {
    // RFC 8894 §3.3.1: a PKCSReq is signed with the key being certified (proof of possession of that key).
    throw new ScepError('signer-mismatch', 'badMessageCheck', 'PKCSReq signer key differs from the CSR key', replyTo);
  }
  if (messageType === 'RenewalReq' && !signerIssuedByCa) {
    throw new ScepError(
      'untrusted-signer',
      'badMessageCheck',
      'RenewalReq must be signed by a certificate from this CA',
      replyTo,
    );
  }
  return {
    ...base,
    messageType,
    csrDer: envelope.content,
    challengePassword: csr.challengePassword,
    csrSubject: csr.subject,
    csrSubjectString: csr.subjectString,
    csrPublicKeyPem: csr.publicKeyPem,
  };
}

export type CertRepResult = { issuedCertDer: Buffer } | { failInfo: ScepFailInfo } | { pending: true };

/**
 * CertRep signed by the CA. SUCCESS wraps a certs-only SignedData with the issued certificate in an
 * EnvelopedData for the requester's signer certificate; FAILURE/PENDING carry no content (RFC 8894 §3.3.2).
 */
export function buildCertRep(
  options: {
    request: ScepReplyTarget & { contentEncryption?: ContentCipher };
    ca: CertificateAuthority;
  } & CertRepResult,
): Buffer {
  const { request, ca } = options;
  let content: Buffer | null = null;
  let pkiStatus: number = ScepPkiStatus.PENDING;
  let failInfo: ScepFailInfo | undefined;
  if ('issuedCertDer' in options) {
    pkiStatus = ScepPkiStatus.SUCCESS;
    content = encryptEnvelopedData(
      buildCertificatesOnly([options.issuedCertDer]),
      request.signerCertDer,
      request.contentEncryption ?? 'aes-256-cbc',
    );
  } else if ('failInfo' in options) {
    pkiStatus = ScepPkiStatus.FAILURE;
    failInfo = options.failInfo;
  }
  return buildSignedData({
    content,
    digest: request.digest,
    signer: { certDer: ca.certDer, key: ca.key },
    certificates: [ca.certDer],
    extraSignedAttributes: scepAttributes({
      transactionId: request.transactionId,
      messageType: ScepMessageType.CertRep,
      senderNonce: newNonce(),
      recipientNonce: request.senderNonce,
      pkiStatus,
      failInfo,
    }),
  });
}

function asScepError(error: unknown, replyTo?: ScepReplyTarget): ScepError {
  if (error instanceof ScepError) return error;
  if (error instanceof PkiFormatError) {
    return new ScepError(
      error.reason,
      error.reason === 'unsupported' ? 'badAlg' : 'badRequest',
      error.message,
      replyTo,
      { cause: error },
    );
  }
  return new ScepError(
    'malformed',
    'badRequest',
    `unreadable pkiMessage: ${(error as Error)?.message ?? String(error)}`,
    replyTo,
    {
      cause: error,
    },
  );
}
