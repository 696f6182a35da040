import type {
  Unenrollment,
  UnenrollmentActor,
  UnenrollmentState,
  UnenrollmentStepState,
  UnenrollmentTrigger,
} from 'enrollment-gateway/sdk';

/**
 * Where a step runs. 'cancel' clears what was still queued before the removals go out; 'remove-item' steps go
 * out together and are answered before 'remove-mdm' (the enrollment profile) is sent; 'server' steps run after.
 */
export type StepKind = 'cancel' | 'remove-item' | 'remove-mdm' | 'server';

export type ServerStep =
  | 'revoke-certificates'
  | 'clear-command-queue'
  | 'erase-secrets'
  | 'mark-retired'
  | 'audit-record'
  | 'announce';
export const SERVER_STEPS: readonly ServerStep[] = [
  'revoke-certificates',
  'clear-command-queue',
  'erase-secrets',
  'mark-retired',
  'audit-record',
  'announce',
];

export interface StepDoc {
  name: string;
  kind: StepKind;
  state: UnenrollmentStepState;
  /** RemoveApplication or RemoveProfile, for remote steps. */
  requestType?: 'RemoveApplication' | 'RemoveProfile';
  /** Bundle id or PayloadIdentifier. */
  identifier?: string;
  displayName?: string;
  /** Which plugin said it installed the item. */
  source?: string;
  commandUuid?: string;
  detail?: string;
  /** What the step removed (server steps), for the audit record. */
  removed?: string[];
  attempts: number;
  updatedAt: Date;
}

export interface RequestDoc {
  trigger: UnenrollmentTrigger;
  requestedBy: UnenrollmentActor;
  at: Date;
}

/**
 * One unenrollment of one enrollment of a device. The _id "<deviceId>:<enrollmentId>" is the idempotency key:
 * concurrent requests for the same enrollment insert the same _id and all but one get the duplicate-key error
 * (a unique insert is atomic on MongoDB and FerretDB alike), while a later re-enrollment gets a new one.
 */
export interface UnenrollmentDoc {
  _id: string;
  deviceId: string;
  udid: string;
  userId?: string;
  enrollmentId?: string;
  trigger: UnenrollmentTrigger;
  requestedBy: UnenrollmentActor;
  state: UnenrollmentState;
  steps: StepDoc[];
  /** Set when the device had checked out before it started; a CheckOut later is a joined request. */
  checkedOutAt?: Date;
  /** Deadlines of the two groups of remote commands, fixed when a group is first sent (so a resume keeps them). */
  itemsDeadline?: Date;
  mdmDeadline?: Date;
  startedAt: Date;
  completedAt?: Date;
  updatedAt: Date;
}

export const FINAL_STEP_STATES: readonly UnenrollmentStepState[] = ['done', 'skipped', 'failed', 'timed-out'];
export const isFinal = (step: Pick<StepDoc, 'state' | 'kind'>) =>
  // A failed server step is retried; a failed remote step is the device's answer and stands.
  step.kind === 'server' ? step.state === 'done' || step.state === 'skipped' : FINAL_STEP_STATES.includes(step.state);

export function toUnenrollment(doc: UnenrollmentDoc, requests: readonly RequestDoc[]): Unenrollment {
  return {
    deviceId: doc.deviceId,
    udid: doc.udid,
    userId: doc.userId,
    enrollmentId: doc.enrollmentId,
    trigger: doc.trigger,
    requestedBy: doc.requestedBy,
    requests: requests.map((r) => ({ trigger: r.trigger, requestedBy: r.requestedBy, at: r.at })),
    state: doc.state,
    steps: doc.steps.map((s) => ({
      name: s.name,
      state: s.state,
      commandUuid: s.commandUuid,
      detail: s.detail,
      attempts: s.attempts,
      updatedAt: s.updatedAt,
    })),
    startedAt: doc.startedAt,
    completedAt: doc.completedAt,
  };
}
