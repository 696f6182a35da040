import { createServiceRef } from '../refs.js';

/**
 * The steps of one enrollment attempt, in the order a device goes through them (since 2.9). The portal
 * raises the first four, mdm the next four (TokenUpdate is `device.enrolled`), and the last two are read
 * from the device's readiness (just-in-time registration) by whoever records attempts.
 */
export const ENROLLMENT_STEPS = [
  'signed-in',
  'os-checked',
  'profile-resolved',
  'session-created',
  'profile-downloaded',
  'identity-issued',
  'authenticated',
  'token-updated',
  'authenticator-installed',
  'ready',
] as const;
export type EnrollmentStep = (typeof ENROLLMENT_STEPS)[number];

/** Why an attempt stopped (since 2.9). */
export const ENROLLMENT_FAILURE_REASONS = [
  'device-limit',
  'os-too-old',
  'no-profile',
  'vetoed',
  'link-expired',
  'not-installed',
  'challenge-refused',
  'identity-refused',
  'authenticator-failed',
  'user-cancelled',
] as const;
export type EnrollmentFailureReason = (typeof ENROLLMENT_FAILURE_REASONS)[number];

/**
 * Payload of the `enrollment.step` event: one step of one attempt passed or stopped it. Steps the portal
 * raises carry the portal's `attemptId`; steps raised once a session exists carry its `enrollmentId` (the
 * `session-created` step carries both, which links them). Event id: `enrollment.step:<attempt or
 * enrollment id>:<step>`, so a step is recorded once per attempt.
 */
export interface EnrollmentStepEvent {
  step: EnrollmentStep;
  outcome: 'passed' | 'failed';
  reason?: EnrollmentFailureReason;
  /** For 'vetoed': the plugin that refused. */
  vetoedBy?: string;
  /** What the raiser knows beyond the reason (for admins, never shown to device users). */
  detail?: string;
  at: Date;
  attemptId?: string;
  enrollmentId?: string;
  userId?: string;
  userName?: string;
  deviceId?: string;
  profileId?: string;
  groups?: string[];
  platform?: string;
  osVersion?: string;
  /** For 'identity-issued'. */
  method?: 'scep' | 'acme';
  /** For 'session-created': when the download link expires. */
  expiresAt?: Date;
}

/** A user's latest attempt, as the portal's troubleshooting page tells it. */
export interface LatestEnrollmentAttempt {
  attemptId: string;
  startedAt: Date;
  /** The last step passed, if any. */
  lastStep?: EnrollmentStep;
  failure?: { reason: EnrollmentFailureReason; at: Date; vetoedBy?: string };
  /** True once the device reached the last step. */
  completed: boolean;
}

/** Enrollment attempts of device users (since 2.9). Provided by the enrollment-insights plugin. */
export interface EnrollmentAttemptsService {
  latestFor(userId: string): Promise<LatestEnrollmentAttempt | undefined>;
  /** The reason in plain words for the device user. */
  userExplanation(reason: EnrollmentFailureReason): string;
}
export const enrollmentAttemptsRef = createServiceRef<EnrollmentAttemptsService>('enrollment.attempts');
