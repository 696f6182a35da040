/** PKI for the mdm plugin: CA and leaf issuance, CMS signing/verification, SCEP server and client. */

export { MAX_UNTRUSTED_DER_BYTES } from './asn1-guard.js';
export {
  type CertificateAuthority,
  type CertificateSummary,
  certificateFingerprintSha256,
  createCertificateAuthority,
  createSelfSignedCertificate,
  type DistinguishedName,
  derToPem,
  type IssuedCertificate,
  issueDeviceCertificate,
  issueSigningCertificate,
  loadCertificateAuthority,
  type NameAttribute,
  type PemCertificateAndKey,
  pemToDer,
  randomSerialHex,
  summarizeCertificate,
} from './certificates.js';
export type { ContentCipher } from './cms-enveloped-data.js';
export { createProfileSigner, type ProfileSigner, signDetached, signProfile } from './cms-sign.js';
export {
  type DetachedVerifyOptions,
  type VerifiedSigner,
  verifyAttachedSignature,
  verifyDetachedSignature,
} from './cms-verify.js';
export { buildCertificationRequest, type CertificationRequest, parseCertificationRequest } from './csr.js';
export {
  CertificateIssueError,
  type CmsFailureReason,
  CmsVerificationError,
  EnvelopeDecryptionError,
  type FormatFailureReason,
  PkiFormatError,
  ScepError,
  type ScepFailInfo,
  type ScepFailureReason,
  type ScepReplyTarget,
} from './errors.js';
export type { CertificateInput, PrivateKeyInput } from './keys.js';
export { formatName } from './names.js';
export type { DigestName } from './oids.js';
export { buildPkcsReq, type CertRepOutcome, parseCertRep, type ScepClientRequest } from './scep-client.js';
export { ScepMessageType, type ScepMessageTypeName } from './scep-common.js';
export {
  buildCertRep,
  type CertRepResult,
  getCACapsResponse,
  getCACertResponse,
  openPkiMessage,
  parsePkiMessage,
  readPkiMessage,
  SCEP_CA_CAPABILITIES,
  type ScepEnrollmentRequest,
  type ScepPollRequest,
  type ScepRequest,
  type ScepSignedMessage,
} from './scep-server.js';
