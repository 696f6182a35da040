/**
 * SCEP client side (RFC 8894), used by the device simulator and tests to behave like an iPhone's SCEP client:
 * self-signed requester certificate, CSR with challengePassword, AES envelope to the CA, SHA-256 signature.
 */

import type { KeyObject } from 'node:crypto';
import { createHash, X509Certificate } from 'node:crypto';
import { parseDer } from './asn1-guard.js';
import { createSelfSignedCertificate } from './certificates.js';
import { type ContentCipher, decryptEnvelopedData, encryptEnvelopedData } from './cms-enveloped-data.js';
import { buildSignedData, checkSignerInfo, findSignerCertificate, parseSignedData } from './cms-signed-data.js';
import { buildCertificationRequest, parseCertificationRequest } from './csr.js';
import { PkiFormatError, ScepError, type ScepFailInfo } from './errors.js';
import { cachedCertificate, type PrivateKeyInput, toPrivateKey } from './keys.js';
import type { DistinguishedName } from './names.js';
import type { DigestName } from './oids.js';
import { newNonce, readScepHeader, ScepMessageType, ScepPkiStatus, scepAttributes } from './scep-common.js';

export interface ScepClientRequest {
  /** DER pkiMessage to POST to ?operation=PKIOperation. */
  der: Buffer;
  transactionId: string;
  senderNonce: Buffer;
  csrDer: Buffer;
  /** Certificate that signed the request; the CA encrypts its reply to it. */
  requesterCertDer: Buffer;
  requesterKey: KeyObject;
}

export function buildPkcsReq(options: {
  subject: DistinguishedName;
  /** The key pair being certified. */
  keyPair: { publicKey: KeyObject; privateKey: KeyObject };
  caCertPem: string;
  challenge?: string;
  messageType?: 'PKCSReq' | 'RenewalReq';
  /** RenewalReq only: the existing certificate (and its key) that signs the request. */
  signer?: { certPem: string; key: PrivateKeyInput };
  cipher?: ContentCipher;
  digest?: DigestName;
  transactionId?: string;
}): ScepClientRequest {
  const messageType = options.messageType ?? 'PKCSReq';
  const csrDer = buildCertificationRequest({
    subject: options.subject,
    publicKey: options.keyPair.publicKey,
    privateKey: options.keyPair.privateKey,
    challengePassword: options.challenge,
  });

  let requesterCertDer: Buffer;
  let requesterKey: KeyObject;
  if (messageType === 'RenewalReq') {
    if (!options.signer)
      throw new ScepError('malformed', 'badRequest', 'RenewalReq needs the existing certificate as signer');
    requesterCertDer = cachedCertificate(options.signer.certPem).raw;
    requesterKey = toPrivateKey(options.signer.key);
  } else {
    requesterCertDer = createSelfSignedCertificate({
      subject: options.subject,
      publicKey: options.keyPair.publicKey,
      privateKey: options.keyPair.privateKey,
      validityDays: 1,
    }).certDer;
    requesterKey = options.keyPair.privateKey;
  }

  // RFC 8894 §3.2.1.1 suggests deriving the transactionID from the public key being certified.
  const transactionId =
    options.transactionId ??
    createHash('sha256')
      .update(options.keyPair.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex')
      .toUpperCase();
  const senderNonce = newNonce();
  const caCertDer = cachedCertificate(options.caCertPem).raw;
  const der = buildSignedData({
    content: encryptEnvelopedData(csrDer, caCertDer, options.cipher ?? 'aes-256-cbc'),
    digest: options.digest ?? 'sha256',
    signer: { certDer: requesterCertDer, key: requesterKey },
    certificates: [requesterCertDer],
    extraSignedAttributes: scepAttributes({ transactionId, messageType: ScepMessageType[messageType], senderNonce }),
  });
  return { der, transactionId, senderNonce, csrDer, requesterCertDer, requesterKey };
}

export type CertRepOutcome =
  | { status: 'success'; certificateDer: Buffer; certificates: Buffer[] }
  | { status: 'failure'; failInfo: ScepFailInfo }
  | { status: 'pending' };

/**
 * Verifies a CertRep (signed by the CA or a certificate it issued, nonces and transactionID echoing the request)
 * and extracts the issued certificate. Throws ScepError when the reply itself is not trustworthy.
 */
export function parseCertRep(der: Buffer, request: ScepClientRequest, options: { caCertPem: string }): CertRepOutcome {
  const ca = cachedCertificate(options.caCertPem);
  try {
    const signed = parseSignedData(der);
    if (signed.signerInfos.length !== 1) throw new PkiFormatError('malformed', 'CertRep must have exactly one signer');
    const [signerInfo] = signed.signerInfos;
    const signerDer = findSignerCertificate(signed.certificates, signerInfo.sid);
    if (!signerDer) throw new PkiFormatError('malformed', 'CertRep does not include its signer certificate');
    const signer = new X509Certificate(signerDer);
    const signerTrusted = signer.raw.equals(ca.raw) || (signer.checkIssued(ca) && signer.verify(ca.publicKey));
    if (!signerTrusted)
      throw new ScepError('untrusted-signer', 'badMessageCheck', 'CertRep is not signed by the expected CA');
    const check = checkSignerInfo(signerInfo, signed.eContent ?? Buffer.alloc(0), signer.publicKey);
    if (check !== 'ok')
      throw new ScepError('bad-signature', 'badMessageCheck', `CertRep signature check failed: ${check}`);

    const header = readScepHeader(signerInfo);
    if (header.messageTypeCode !== ScepMessageType.CertRep)
      throw new PkiFormatError('malformed', 'reply is not a CertRep');
    if (header.transactionId !== request.transactionId)
      throw new PkiFormatError('malformed', 'CertRep transactionID differs');
    if (!header.recipientNonce?.equals(request.senderNonce))
      throw new PkiFormatError('malformed', 'CertRep recipientNonce differs');

    if (header.pkiStatus === ScepPkiStatus.PENDING) return { status: 'pending' };
    if (header.pkiStatus === ScepPkiStatus.FAILURE)
      return { status: 'failure', failInfo: header.failInfo ?? 'badRequest' };
    if (header.pkiStatus !== ScepPkiStatus.SUCCESS)
      throw new PkiFormatError('malformed', `unknown pkiStatus ${header.pkiStatus}`);
    if (!signed.eContent) throw new PkiFormatError('malformed', 'SUCCESS CertRep has no content');

    const envelope = decryptEnvelopedData(parseDer(signed.eContent), request.requesterCertDer, request.requesterKey);
    const { certificates } = parseSignedData(envelope.content);
    const ourKey = parseCertificationRequest(request.csrDer).publicKey;
    const issued = certificates.find((certDer) => new X509Certificate(certDer).publicKey.equals(ourKey));
    if (!issued) throw new PkiFormatError('malformed', 'CertRep does not contain a certificate for our key');
    return { status: 'success', certificateDer: issued, certificates };
  } catch (error) {
    if (error instanceof ScepError) throw error;
    const reason = error instanceof PkiFormatError ? error.reason : 'malformed';
    throw new ScepError(reason, 'badMessageCheck', (error as Error).message, undefined, { cause: error });
  }
}
