import { z } from 'zod';
import { CheckinError, toFieldIssues } from './errors.js';
import { type PlistDict, type PlistLimits, parseDevicePlist } from './plist-safe.js';

/**
 * Check-in protocol messages (the device's PUTs to CheckInURL), modelled on Apple's
 * mdm/checkin/*.yaml. Every message keeps the exact bytes it came from (`raw`) so the server can verify the
 * Mdm-Signature over them and store them for audit.
 */

// UDIDs ("00008110-001A2B3C4D5E801E", 40 hex digits, or a UUID on Macs) and EnrollmentIDs are used as storage keys
// and in URLs, so anything outside this conservative alphabet is refused rather than escaped later.
const deviceIdentifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'unexpected characters in identifier');
const shortText = z.string().max(256);
const topic = z.string().min(1).max(256);
const bytes = z.instanceof(Buffer);

/** Keys naming the device (device enrollment: UDID; User Enrollment: EnrollmentID) and, on the user channel, the user. */
const identityShape = {
  UDID: deviceIdentifier.optional(),
  EnrollmentID: deviceIdentifier.optional(),
};

const authenticateSchema = z.object({
  ...identityShape,
  Topic: topic,
  BuildVersion: shortText.optional(),
  OSVersion: shortText.optional(),
  ProductName: shortText.optional(),
  SerialNumber: shortText.optional(),
  IMEI: shortText.optional(),
  MEID: shortText.optional(),
  DeviceName: shortText.optional(),
  Model: shortText.optional(),
  ModelName: shortText.optional(),
});

const tokenUpdateSchema = z.object({
  ...identityShape,
  Topic: topic,
  // APNs device tokens are 32 bytes today; the bound only guards against junk.
  Token: bytes.refine((b) => b.length > 0 && b.length <= 256, 'token must be 1-256 bytes'),
  PushMagic: z.string().min(1).max(256),
  UnlockToken: bytes.optional(),
  AwaitingConfiguration: z.boolean().optional(),
  NotOnConsole: z.boolean().optional(),
  UserID: shortText.optional(),
  UserShortName: shortText.optional(),
  UserLongName: shortText.optional(),
  EnrollmentUserID: shortText.optional(),
});

const checkOutSchema = z.object({ ...identityShape, Topic: topic });

const userAuthenticateSchema = z.object({
  UDID: deviceIdentifier,
  UserID: shortText,
  UserShortName: shortText.optional(),
  UserLongName: shortText.optional(),
  // Absent on the first request of the digest exchange, present on the second.
  DigestResponse: z.string().max(4096).optional(),
});

interface CheckinCommon {
  /** The exact request body, for signature verification and audit. */
  raw: Buffer;
  /** The parsed dictionary, unmodified. */
  plist: PlistDict;
}

interface DeviceIdentity {
  /** UDID for device enrollments, EnrollmentID for User Enrollment: the key the server stores the device under. */
  deviceId: string;
  udid?: string;
  enrollmentId?: string;
}

export interface AuthenticateMessage extends CheckinCommon, DeviceIdentity {
  messageType: 'Authenticate';
  topic: string;
  buildVersion?: string;
  osVersion?: string;
  productName?: string;
  serialNumber?: string;
  imei?: string;
  meid?: string;
  deviceName?: string;
  model?: string;
  modelName?: string;
}

export interface TokenUpdateMessage extends CheckinCommon, DeviceIdentity {
  messageType: 'TokenUpdate';
  /** 'user' when the device reports a user (Shared iPad / macOS user channel); iPhones use the device channel. */
  channel: 'device' | 'user';
  topic: string;
  /** APNs device token as lowercase hex, the form APNs' HTTP/2 API takes in the path. */
  token: string;
  pushMagic: string;
  unlockToken?: Buffer;
  awaitingConfiguration: boolean;
  notOnConsole?: boolean;
  userId?: string;
  userShortName?: string;
  userLongName?: string;
  enrollmentUserId?: string;
}

export interface CheckOutMessage extends CheckinCommon, DeviceIdentity {
  messageType: 'CheckOut';
  topic: string;
}

export interface UserAuthenticateMessage extends CheckinCommon {
  messageType: 'UserAuthenticate';
  deviceId: string;
  udid: string;
  userId: string;
  userShortName?: string;
  userLongName?: string;
  digestResponse?: string;
}

/** A well-formed check-in whose MessageType this layer does not handle; the server answers 400. */
export interface UnknownCheckinMessage extends CheckinCommon {
  messageType: 'Unknown';
  /** The MessageType the device sent (e.g. 'DeclarativeManagement', 'GetBootstrapToken'). */
  unknownMessageType: string;
}

export type CheckinMessage =
  | AuthenticateMessage
  | TokenUpdateMessage
  | CheckOutMessage
  | UserAuthenticateMessage
  | UnknownCheckinMessage;

export const KNOWN_CHECKIN_MESSAGE_TYPES = ['Authenticate', 'TokenUpdate', 'CheckOut', 'UserAuthenticate'] as const;
export type KnownCheckinMessageType = (typeof KNOWN_CHECKIN_MESSAGE_TYPES)[number];

/** Parses a check-in body. Throws PlistError for an unsafe/malformed plist and CheckinError for a bad message. */
export function parseCheckin(body: Buffer, limits?: PlistLimits): CheckinMessage {
  const plist = parseDevicePlist(body, limits);
  const common: CheckinCommon = { raw: body, plist };
  const messageType = plist.MessageType;
  if (typeof messageType !== 'string' || messageType === '') {
    throw new CheckinError('missing-message-type', 'MessageType is missing or not a string');
  }
  switch (messageType) {
    case 'Authenticate': {
      const m = validate(authenticateSchema, plist, messageType);
      return {
        messageType,
        ...common,
        ...identity(m, messageType),
        topic: m.Topic,
        buildVersion: m.BuildVersion,
        osVersion: m.OSVersion,
        productName: m.ProductName,
        serialNumber: m.SerialNumber,
        imei: m.IMEI,
        meid: m.MEID,
        deviceName: m.DeviceName,
        model: m.Model,
        modelName: m.ModelName,
      };
    }
    case 'TokenUpdate': {
      const m = validate(tokenUpdateSchema, plist, messageType);
      return {
        messageType,
        ...common,
        ...identity(m, messageType),
        channel: m.UserID !== undefined || m.EnrollmentUserID !== undefined || m.UserShortName ? 'user' : 'device',
        topic: m.Topic,
        token: m.Token.toString('hex'),
        pushMagic: m.PushMagic,
        unlockToken: m.UnlockToken,
        awaitingConfiguration: m.AwaitingConfiguration ?? false,
        notOnConsole: m.NotOnConsole,
        userId: m.UserID,
        userShortName: m.UserShortName,
        userLongName: m.UserLongName,
        enrollmentUserId: m.EnrollmentUserID,
      };
    }
    case 'CheckOut': {
      const m = validate(checkOutSchema, plist, messageType);
      return { messageType, ...common, ...identity(m, messageType), topic: m.Topic };
    }
    case 'UserAuthenticate': {
      const m = validate(userAuthenticateSchema, plist, messageType);
      return {
        messageType,
        ...common,
        deviceId: m.UDID,
        udid: m.UDID,
        userId: m.UserID,
        userShortName: m.UserShortName,
        userLongName: m.UserLongName,
        digestResponse: m.DigestResponse,
      };
    }
    default:
      return { messageType: 'Unknown', ...common, unknownMessageType: messageType.slice(0, 64) };
  }
}

function validate<T>(schema: z.ZodType<T>, plist: PlistDict, messageType: string): T {
  const result = schema.safeParse(plist);
  if (!result.success) {
    const issues = toFieldIssues(result.error.issues);
    throw new CheckinError(
      'invalid-fields',
      `invalid ${messageType}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return result.data;
}

/** Every device-scoped message must name the device by UDID or (User Enrollment) EnrollmentID. */
function identity(m: { UDID?: string; EnrollmentID?: string }, messageType: string): DeviceIdentity {
  const deviceId = m.UDID ?? m.EnrollmentID;
  if (deviceId === undefined) {
    const issues = [{ path: 'UDID', message: 'UDID or EnrollmentID is required' }];
    throw new CheckinError('invalid-fields', `invalid ${messageType}: UDID or EnrollmentID is required`, issues);
  }
  return { deviceId, udid: m.UDID, enrollmentId: m.EnrollmentID };
}
