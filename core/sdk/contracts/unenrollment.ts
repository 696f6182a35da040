import { createExtensionPoint, createServiceRef } from '../refs.js';

/** Why a device leaves management. */
export type UnenrollmentTrigger =
  /** The device user removed it in the portal. */
  | 'user'
  /** An admin retired it (one device, or every device of a disabled user). */
  | 'admin'
  /** The device sent CheckOut: its user deleted the management profile in Settings. */
  | 'checkout'
  /** Policy: no check-in for the configured number of days. */
  | 'inactivity';

/** Who asked: a device user, an admin principal, the device itself, or the gateway's own policy. */
export interface UnenrollmentActor {
  kind: 'user' | 'admin' | 'device' | 'system';
  id: string;
  displayName?: string;
}

export type UnenrollmentStepState = 'pending' | 'running' | 'done' | 'skipped' | 'failed' | 'timed-out';

export interface UnenrollmentStep {
  /**
   * In order: "cancel-queued-commands", "remove-app:com.azure.authenticator", "remove-profile:<identifier>",
   * "remove-mdm-profile:<identifier>", then "revoke-certificates", "clear-command-queue", "erase-secrets",
   * "mark-retired", "audit-record", "announce" (docs/unenrollment.md).
   */
  name: string;
  state: UnenrollmentStepState;
  /** The command sent for a remote step. */
  commandUuid?: string;
  /** What the device or the server answered; an error chain's first message. */
  detail?: string;
  attempts: number;
  updatedAt: Date;
}

/**
 * in-progress → completed (every step done or skipped; a remote step may also be 'failed' when the device
 * answered with an error) or device-unreachable (remote steps timed out, server-side steps done). Both final
 * states mean the device is retired.
 */
export type UnenrollmentState = 'in-progress' | 'completed' | 'device-unreachable';

export interface Unenrollment {
  deviceId: string;
  udid: string;
  userId?: string;
  /**
   * The enrollment being retired. When it differs from the device's current `DeviceRecord.enrollmentId`, the
   * device has enrolled again since and this unenrollment is history.
   */
  enrollmentId?: string;
  /** The first request. */
  trigger: UnenrollmentTrigger;
  requestedBy: UnenrollmentActor;
  /** Every request that joined this unenrollment, the first one included (double clicks, admin and user, CheckOut). */
  requests?: { trigger: UnenrollmentTrigger; requestedBy: UnenrollmentActor; at: Date }[];
  state: UnenrollmentState;
  steps: UnenrollmentStep[];
  startedAt: Date;
  completedAt?: Date;
}

export interface UnenrollmentRequest {
  deviceId: string;
  trigger: UnenrollmentTrigger;
  requestedBy: UnenrollmentActor;
}

/** Starts and reports unenrollments. Provided by the unenrollment plugin. */
export interface UnenrollmentService {
  /**
   * Idempotent per device: while one runs, a second request (a double click, the admin and the user at once)
   * returns the running one; a CheckOut mid-wipe only skips the remaining remote steps.
   */
  start(request: UnenrollmentRequest): Promise<Unenrollment>;
  /** The latest unenrollment of the device, running or finished. */
  get(deviceId: string): Promise<Unenrollment | undefined>;
}
export const unenrollmentRef = createServiceRef<UnenrollmentService>('unenrollment');

/** Something the gateway installed on a device, which unenrollment removes. */
export interface ManagedItem {
  kind: 'application' | 'profile';
  /** Bundle identifier of an app, PayloadIdentifier of a profile. */
  identifier: string;
  displayName?: string;
}

/**
 * Plugins that install apps or profiles on devices tell unenrollment what to remove. Items are removed before
 * the MDM enrollment profile itself, which unenrollment removes last.
 */
export interface ManagedItemSource {
  installedOn(deviceId: string): Promise<ManagedItem[]>;
}
export const managedItemsPoint = createExtensionPoint<ManagedItemSource>('unenrollment.managedItems');
