import { GatewayError } from 'enrollment-gateway/sdk';

/** Why a push certificate (or its request) was refused; stable strings the admin UI maps to help texts. */
export type PushCertificateProblem =
  | 'unsupported-file'
  | 'bad-password'
  | 'bad-csr'
  | 'expired'
  | 'not-yet-valid'
  | 'not-mdm-push'
  | 'key-mismatch'
  | 'no-key'
  | 'topic-changed'
  | 'self-signed';

export class PushCertificateError extends GatewayError {
  constructor(
    readonly reason: PushCertificateProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`push_certificate_${reason.replaceAll('-', '_')}`, message, options);
  }
}
