export {
  type GeneratedCsr,
  generatePushCsr,
  type PushCsrSubject,
  signCsrWithVendorCertificate,
  type VendorSigningInput,
} from './csr.js';
export { PushCertificateError, type PushCertificateProblem } from './errors.js';
export {
  type CertificateTopic,
  checkRenewal,
  EXPIRY_WARNING_DAYS,
  type ExpiryStatus,
  type ExpiryThreshold,
  expiryWarnings,
  type RenewalCheck,
} from './lifecycle.js';
export {
  APPLE_PUSH_EXTENSION_OIDS,
  isSelfSigned,
  MDM_TOPIC_PREFIX,
  type ParsedPushCertificate,
  type PushCertificateUpload,
  parsePushCertificateUpload,
} from './upload.js';
