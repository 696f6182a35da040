import { GatewayError } from 'enrollment-gateway/sdk';

/** Why an input could not even be read: too big, not DER, not the expected shape, or an algorithm we do not speak. */
export type FormatFailureReason = 'too-large' | 'malformed' | 'unsupported';

/**
 * Raised by the shared ASN.1/CMS readers. The public entry points (verifyDetachedSignature, parsePkiMessage, ...)
 * translate it into their own typed error so callers only ever catch one class per operation.
 */
export class PkiFormatError extends GatewayError {
  constructor(
    readonly reason: FormatFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`pki_${reason}`, message, options);
  }
}

/** Why a CMS signature (profile or Mdm-Signature header) was refused. */
export type CmsFailureReason =
  | FormatFailureReason
  | 'digest-mismatch'
  | 'bad-signature'
  | 'untrusted'
  | 'expired'
  | 'not-client-auth';

export class CmsVerificationError extends GatewayError {
  constructor(
    readonly reason: CmsFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`cms_${reason}`, message, options);
  }
}

/** Why a certificate could not be issued (bad CSR, bad subject, unusable key). */
export class CertificateIssueError extends GatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('certificate_issue', message, options);
  }
}

/** An EnvelopedData could not be opened with our key (wrong recipient, bad padding, bad content key). */
export class EnvelopeDecryptionError extends GatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('cms_decrypt_failed', message, options);
  }
}

/** RFC 8894 §3.2.1.4 failInfo values, as the names the spec uses. */
export type ScepFailInfo = 'badAlg' | 'badMessageCheck' | 'badRequest' | 'badTime' | 'badCertId';

export type ScepFailureReason =
  | FormatFailureReason
  | 'bad-signature'
  | 'digest-mismatch'
  | 'decrypt-failed'
  | 'bad-csr'
  | 'signer-mismatch'
  | 'untrusted-signer';

/** What a CA needs to send a signed FAILURE CertRep back (known once the outer SignedData verified). */
export interface ScepReplyTarget {
  transactionId: string;
  senderNonce: Buffer;
  signerCertDer: Buffer;
  digest: 'sha1' | 'sha256' | 'sha384' | 'sha512';
}

/**
 * A PKIOperation message we refuse. `failInfo` is what to put in the CertRep; `replyTo` is set when the
 * envelope was authentic enough to answer with a signed FAILURE (otherwise answer HTTP 400).
 */
export class ScepError extends GatewayError {
  constructor(
    readonly reason: ScepFailureReason,
    readonly failInfo: ScepFailInfo,
    message: string,
    readonly replyTo?: ScepReplyTarget,
    options?: { cause?: unknown },
  ) {
    super(`scep_${reason}`, message, options);
  }
}
