import { GatewayError } from 'enrollment-gateway/sdk';

/**
 * Errors raised by the pure MDM protocol layer. Each carries a short machine `reason` so the HTTP layer can map
 * it to a status (a malformed check-in is a 400, never a 500) and log it without echoing device input.
 */
export class MdmProtocolError extends GatewayError {}

export type PlistErrorReason =
  | 'empty'
  | 'too-large'
  | 'binary-plist'
  | 'not-utf8'
  | 'doctype'
  | 'entity'
  | 'too-deep'
  | 'malformed'
  | 'invalid-value'
  | 'not-a-dictionary'
  | 'unbuildable';

/** A property list that was refused or could not be parsed/built. */
export class PlistError extends MdmProtocolError {
  constructor(
    readonly reason: PlistErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`plist_${reason.replace(/-/g, '_')}`, message, options);
  }
}

/** One schema problem found while validating a device message with zod. */
export interface FieldIssue {
  path: string;
  message: string;
}

export type CheckinErrorReason = 'missing-message-type' | 'invalid-fields';

/** A check-in message whose body is a valid plist but not a valid check-in. */
export class CheckinError extends MdmProtocolError {
  constructor(
    readonly reason: CheckinErrorReason,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(`checkin_${reason.replace(/-/g, '_')}`, message);
  }
}

/** A command report (the device's PUT to the server URL) that is not a valid report. */
export class CommandReportError extends MdmProtocolError {
  constructor(
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super('command_report_invalid', message);
  }
}

export type CommandErrorReason = 'unknown-request-type' | 'invalid-params' | 'invalid-result';

/** A command that cannot be built (unknown RequestType, bad parameters) or a result that does not parse. */
export class MdmCommandError extends MdmProtocolError {
  constructor(
    readonly reason: CommandErrorReason,
    readonly requestType: string,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(`command_${reason.replace(/-/g, '_')}`, message);
  }
}

/** The enrollment/configuration profile inputs break one of Apple's rules. */
export class ProfileBuildError extends MdmProtocolError {
  constructor(message: string) {
    super('profile_invalid', message);
  }
}

/** Converts zod issues to short `path: message` pairs (values are never echoed). */
export function toFieldIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): FieldIssue[] {
  return issues.map((issue) => ({
    path: issue.path.map((part) => String(part)).join('.') || '(root)',
    message: issue.message,
  }));
}

/**
 * The issues of a command that cannot be built, keyed as the enqueue request names its fields
 * (`requestType`, `commandUuid`, `payload.<key>`), so a refusal lists every field (docs/admin-api.md).
 */
export function enqueueIssues(error: MdmCommandError): FieldIssue[] {
  if (error.reason === 'unknown-request-type') return [{ path: 'requestType', message: 'unknown RequestType' }];
  if (error.issues.length === 0) return [{ path: 'commandUuid', message: error.message }];
  return error.issues.map((issue) => ({
    path: issue.path === '(root)' ? 'payload' : `payload.${issue.path}`,
    message: issue.message,
  }));
}
