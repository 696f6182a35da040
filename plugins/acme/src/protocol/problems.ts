import { ProblemError } from 'enrollment-gateway/sdk';

/** RFC 8555 §6.7 error types used here, plus draft-acme-device-attest's badAttestationStatement. */
export type AcmeErrorType =
  | 'accountDoesNotExist'
  | 'badAttestationStatement'
  | 'badCSR'
  | 'badNonce'
  | 'badSignatureAlgorithm'
  | 'malformed'
  | 'orderNotReady'
  | 'rejectedIdentifier'
  | 'unauthorized'
  | 'unsupportedIdentifier';

const STATUS: Record<AcmeErrorType, number> = {
  accountDoesNotExist: 400,
  badAttestationStatement: 400,
  badCSR: 400,
  badNonce: 400,
  badSignatureAlgorithm: 400,
  malformed: 400,
  // RFC 8555 answers a finalize before the order is ready with 403; never 401 to a device.
  orderNotReady: 403,
  rejectedIdentifier: 400,
  unauthorized: 403,
  unsupportedIdentifier: 400,
};

/** Accepted JWS algorithms (RFC 8555 §6.2: never "none", never MAC-based). */
export const JWS_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'PS256', 'EdDSA'] as const;

/** An ACME refusal, rendered by the kernel as application/problem+json with the urn:ietf:params:acme:error type. */
export class AcmeProblem extends ProblemError {
  constructor(
    readonly acmeType: AcmeErrorType,
    detail: string,
  ) {
    super(STATUS[acmeType], acmeType, detail, {
      type: `urn:ietf:params:acme:error:${acmeType}`,
      extensions: acmeType === 'badSignatureAlgorithm' ? { algorithms: [...JWS_ALGORITHMS] } : {},
    });
  }

  static isAcme(value: unknown): value is AcmeProblem {
    return ProblemError.is(value) && value.type.startsWith('urn:ietf:params:acme:error:');
  }
}
