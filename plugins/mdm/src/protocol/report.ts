import { z } from 'zod';
import { CommandReportError, toFieldIssues } from './errors.js';
import { type PlistDict, type PlistLimits, parseDevicePlist } from './plist-safe.js';

/**
 * The device's PUT to ServerURL: either "Idle" (give me a command) or the outcome of the command it last fetched.
 * There is no upstream YAML for this envelope; keys follow Apple's "Sending Commands" documentation.
 */

export const COMMAND_STATUSES = ['Idle', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

export interface ErrorChainItem {
  ErrorCode: number;
  ErrorDomain: string;
  LocalizedDescription?: string;
  USEnglishDescription?: string;
}

export interface CommandReport {
  /** UDID for device enrollments, EnrollmentID for User Enrollment. */
  deviceId: string;
  udid?: string;
  enrollmentId?: string;
  /** Present on user-channel reports. */
  userId?: string;
  status: CommandStatus;
  /** Absent only for Idle. */
  commandUuid?: string;
  errorChain?: ErrorChainItem[];
  /** The command's response keys: everything except the envelope keys. */
  result: PlistDict;
  raw: Buffer;
}

/** Envelope keys; every other key of a report belongs to the command's response. */
const ENVELOPE_KEYS = new Set([
  'UDID',
  'EnrollmentID',
  'Status',
  'CommandUUID',
  'ErrorChain',
  'UserID',
  'UserShortName',
  'UserLongName',
  'EnrollmentUserID',
]);

const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'unexpected characters in identifier');

const errorChainItem = z.object({
  ErrorCode: z.number().int(),
  ErrorDomain: z.string().max(256),
  LocalizedDescription: z.string().max(4096).optional(),
  USEnglishDescription: z.string().max(4096).optional(),
});

const reportSchema = z
  .object({
    UDID: identifier.optional(),
    EnrollmentID: identifier.optional(),
    UserID: z.string().max(256).optional(),
    Status: z.enum(COMMAND_STATUSES),
    // CommandUUIDs are ours (we issued them), so they are held to the same safe alphabet.
    CommandUUID: identifier.optional(),
    ErrorChain: z.array(errorChainItem).max(64).optional(),
  })
  .refine((r) => r.UDID !== undefined || r.EnrollmentID !== undefined, {
    message: 'UDID or EnrollmentID is required',
    path: ['UDID'],
  })
  .refine((r) => r.Status === 'Idle' || r.CommandUUID !== undefined, {
    message: 'CommandUUID is required unless Status is Idle',
    path: ['CommandUUID'],
  });

/** Parses a command report body. Throws PlistError for an unsafe plist and CommandReportError for a bad report. */
export function parseCommandReport(body: Buffer, limits?: PlistLimits): CommandReport {
  const plist = parseDevicePlist(body, limits);
  const parsed = reportSchema.safeParse(plist);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error.issues);
    throw new CommandReportError(`invalid report: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const r = parsed.data;
  const result: PlistDict = {};
  for (const [key, value] of Object.entries(plist)) if (!ENVELOPE_KEYS.has(key)) result[key] = value;
  return {
    // The refine above guarantees one of the two is present.
    deviceId: (r.UDID ?? r.EnrollmentID) as string,
    udid: r.UDID,
    enrollmentId: r.EnrollmentID,
    userId: r.UserID,
    status: r.Status,
    commandUuid: r.CommandUUID,
    errorChain: r.ErrorChain,
    result,
    raw: body,
  };
}
