import { createExtensionPoint, createServiceRef } from '../refs.js';
import type { DevicePlatform } from './enrollment.js';

/** A command as queued for a device: the plist `Command` dictionary plus its id. */
export interface QueuedCommandInput {
  /** Defaults to a random UUID; enqueueing the same UUID twice for a device is a no-op. */
  commandUuid?: string;
  requestType: string;
  /** Keys of the `Command` dictionary other than RequestType. */
  payload?: Record<string, unknown>;
  /** Who or what asked for it, for the history ("jit-registration", "admin:alice"). */
  origin: string;
}

export interface EnqueueResult {
  deviceId: string;
  commandUuid: string;
  /** False when a command with that UUID was already queued for the device. */
  created: boolean;
}

/** Queues MDM commands and asks the push service to wake the devices. Provided by the mdm plugin. */
export interface DeviceCommandService {
  enqueue(deviceIds: readonly string[], command: QueuedCommandInput): Promise<EnqueueResult[]>;
  /** Drops every command still pending for the device (used by unenrollment). */
  clearQueue(deviceId: string): Promise<number>;
  pendingCount(deviceId: string): Promise<number>;
}
export const deviceCommandsRef = createServiceRef<DeviceCommandService>('mdm.commands');

export interface ManagedAppRecord {
  identifier: string;
  status?: string;
  version?: string;
  itunesStoreId?: number;
}

/** Read model of an enrolled device shared with other plugins. */
export interface DeviceRecord {
  id: string;
  /** The UDID; for a User Enrollment (since 2.8), the EnrollmentID the device reports instead. */
  udid: string;
  /** (since 2.8) True for a User Enrollment: the device is known only by its EnrollmentID. */
  userEnrollment?: boolean;
  userId?: string;
  enrollmentId?: string;
  state: 'pending' | 'enrolled' | 'checked-out' | 'retiring' | 'retired';
  model?: string;
  productName?: string;
  osVersion?: string;
  serialNumber?: string;
  deviceName?: string;
  enrolledAt?: Date;
  lastSeenAt?: Date;
  /** When the gateway first recorded the device (a pending enrollment's age). */
  createdAt?: Date;
  /** True when a push token is on record and not marked invalid. */
  pushable: boolean;
  managedApps: ManagedAppRecord[];
  installedProfiles: { identifier: string; displayName?: string }[];
}

export interface DeviceDirectory {
  get(deviceId: string): Promise<DeviceRecord | undefined>;
  getByUdid(udid: string): Promise<DeviceRecord | undefined>;
  listForUser(userId: string): Promise<DeviceRecord[]>;
}
export const deviceDirectoryRef = createServiceRef<DeviceDirectory>('mdm.devices');

/** Push delivery details the APNs plugin needs; only the push plugin reads them. */
export interface PushTarget {
  deviceId: string;
  token: string;
  pushMagic: string;
  topic: string;
}

export interface PushTargetStore {
  get(deviceIds: readonly string[]): Promise<PushTarget[]>;
  /** Stops pushes to a token APNs rejected, until the next TokenUpdate stores a new one. */
  markInvalid(deviceId: string, token: string, reason: string): Promise<void>;
  /** Devices with pending commands and no contact since `since`. */
  needingWake(since: Date, limit: number): Promise<string[]>;
}
/**
 * Where the push plugin finds device tokens: owned by apns, contributed to by plugins that store devices (mdm).
 * An extension point rather than a service, so apns needs no dependency on mdm (mdm optionally depends on apns).
 */
export const pushTargetSourcesPoint = createExtensionPoint<PushTargetStore>('push.targetSources');

/** Wakes devices; provided by the apns plugin. Coalesced: many calls for one device, one push. */
export interface PushService {
  wake(deviceIds: readonly string[]): Promise<void>;
}
export const pushServiceRef = createServiceRef<PushService>('push');

/** The APNs topic of the current push certificate; the MDM payload needs it. */
export interface PushTopicSource {
  currentTopic(): Promise<string | undefined>;
}
export const pushTopicRef = createServiceRef<PushTopicSource>('push.topic');

/** A payload dictionary to add to the enrollment profile, plus who asked for it. */
export interface EnrollmentPayloadRequest {
  userId: string;
  enrollmentId: string;
  profileId?: string;
}

export interface EnrollmentPayloadContributor {
  /** Returns extra payload dictionaries, or throws VetoError with a message the user sees. */
  payloads(request: EnrollmentPayloadRequest): Promise<Record<string, unknown>[]>;
}
export const enrollmentPayloadsPoint = createExtensionPoint<EnrollmentPayloadContributor>('mdm.enrollmentPayloads');

export interface EnrollmentSessionRequest {
  userId: string;
  /** The effective enrollment profile chosen for the user, if any. */
  profileId?: string;
  /** Shown in the profile's description ("Enrollment for alice@example.com"). */
  userDisplayName?: string;
  /** Who asked: "portal", "admin:<id>". */
  origin: string;
  /**
   * (since 2.8) Account-driven enrollment: the profile carries AssignedManagedAppleID and EnrollmentMode, and for
   * 'BYOD' (User Enrollment) the device reports an EnrollmentID instead of a UDID.
   */
  accountDriven?: AccountDrivenEnrollment;
}

/** Account-driven enrollment of a session (since 2.8). */
export interface AccountDrivenEnrollment {
  /** 'BYOD': User Enrollment (personal data kept apart); 'ADDE': account-driven Device Enrollment (iOS 17+). */
  mode: 'BYOD' | 'ADDE';
  /** The account the user signed in with (user@domain), written as AssignedManagedAppleID. */
  managedAppleId: string;
}

export interface EnrollmentSession {
  id: string;
  userId: string;
  profileId?: string;
  /** One-time URL of the signed .mobileconfig. */
  profileUrl: string;
  expiresAt: Date;
  state: 'issued' | 'downloaded' | 'certificate-issued' | 'enrolled' | 'cancelled' | 'expired';
  deviceId?: string;
}

/** Creates the one-time enrollment sessions behind each downloaded management profile. Provided by mdm. */
export interface EnrollmentSessionService {
  /** Runs the enrollment-payload contributors (which may veto) and refuses while setup is incomplete. */
  create(request: EnrollmentSessionRequest): Promise<EnrollmentSession>;
  get(sessionId: string): Promise<EnrollmentSession | undefined>;
  /**
   * Cancels the user's sessions still waiting to be installed (iOS keeps one downloaded profile). With
   * `includeCertificateIssued` (since 1.1) also those whose profile is being installed: their device's
   * Authenticate is refused (retiring a user).
   */
  cancelPending(userId: string, reason: string, options?: { includeCertificateIssued?: boolean }): Promise<number>;
  /**
   * (since 2.8) Uses up the session's one-time `profileUrl` as a GET on it would, and returns the signed profile
   * (Content-Type application/x-apple-aspen-config). Account-driven enrollment answers the device's POST with it.
   * Throws ProblemError 404/410 for an unknown, used, cancelled or expired link, 403 on a veto.
   */
  fetchProfile?(
    profileUrl: string,
    device: { platform: DevicePlatform; osVersion?: string },
  ): Promise<{ body: Buffer; sessionId: string }>;
}
export const enrollmentSessionsRef = createServiceRef<EnrollmentSessionService>('mdm.enrollments');

/** What still blocks serving profiles; empty when setup is complete. Provided by mdm. */
export interface MdmSetupStatus {
  missing(): Promise<{ item: 'ca' | 'signing-certificate' | 'push-certificate'; problem: string }[]>;
}
export const mdmSetupRef = createServiceRef<MdmSetupStatus>('mdm.setup');

/**
 * One enrollment of a device, as retirement acts on it. When the device has enrolled again since (a newer
 * enrollmentId), the operations leave the newer enrollment alone and report `applied: false`.
 */
export interface RetirementTarget {
  deviceId: string;
  enrollmentId?: string;
}

export interface RetirementStepResult {
  /** False when the target enrollment is no longer the device's current one: nothing was changed. */
  applied: boolean;
  /** What was removed, for progress and the audit record: "2 identity certificates", "push token". */
  removed: string[];
}

/** Where a queued command stands; `detail` is the first message of the device's ErrorChain. */
export interface CommandOutcome {
  state: 'queued' | 'sent' | 'not-now' | 'acknowledged' | 'error' | 'format-error' | 'cancelled';
  detail?: string;
  respondedAt?: Date;
}

/**
 * The server-side half of taking a device out of management, used by the unenrollment plugin. Every
 * operation is idempotent, so a step that ran before a crash can run again. Provided by mdm.
 */
export interface DeviceRetirementService {
  /** Marks a pending or enrolled device 'retiring' (commands can still be queued); returns the device. */
  begin(target: RetirementTarget): Promise<DeviceRecord | undefined>;
  /** PayloadIdentifier of the MDM enrollment profile installed for this enrollment (removed last). */
  enrollmentProfileIdentifier(target: RetirementTarget): Promise<string>;
  commandOutcome(deviceId: string, commandUuid: string): Promise<CommandOutcome | undefined>;
  /** Revokes the enrollment's identity certificates; check-ins signed with them get 403 from then on. */
  revokeIdentity(target: RetirementTarget, reason: string): Promise<RetirementStepResult>;
  /** Cancels every command still pending for the device. */
  clearCommands(target: RetirementTarget): Promise<RetirementStepResult>;
  /** Deletes push token, PushMagic and UnlockToken and destroys the device's data key (crypto-erase). */
  eraseSecrets(target: RetirementTarget): Promise<RetirementStepResult>;
  /** Marks the device 'retired'. */
  complete(target: RetirementTarget): Promise<RetirementStepResult>;
  /** Pending or enrolled devices last seen before `before` (never-seen ones by when they were recorded). */
  inactiveSince(before: Date, limit: number): Promise<DeviceRecord[]>;
  /**
   * Devices in state 'checked-out', oldest CheckOut first (since 1.1). The device.checkedOut event is raised
   * after the state is written and can be lost in between; unenrollment finds those devices here.
   */
  checkedOut?(limit: number): Promise<DeviceRecord[]>;
}
export const deviceRetirementRef = createServiceRef<DeviceRetirementService>('mdm.retirement');

/**
 * A check-in message of a type mdm does not handle itself (e.g. 'DeclarativeManagement'), from a device whose
 * Mdm-Signature and binding mdm verified. Since 2.7.
 */
export interface DeviceCheckinMessage {
  messageType: string;
  deviceId: string;
  udid: string;
  enrollmentId: string;
  /** The parsed plist dictionary, unmodified (`<data>` values are Buffers). */
  message: Readonly<Record<string, unknown>>;
  /** The exact body the device sent. */
  raw: Buffer;
}

/** What mdm answers the device: 200 with this body (or an empty one). Throw ProblemError (4xx) to refuse. */
export interface DeviceCheckinReply {
  body?: Buffer;
  contentType?: string;
}

export interface CheckinMessageHandler {
  /** MessageTypes this handler answers; one handler per type (the first contributor wins). */
  messageTypes: readonly string[];
  handle(message: DeviceCheckinMessage): Promise<DeviceCheckinReply>;
}
/** Owned by mdm: check-in message types other plugins answer (the ddm plugin's DeclarativeManagement). */
export const checkinMessageHandlersPoint = createExtensionPoint<CheckinMessageHandler>('mdm.checkinMessageHandlers');
