import type { EnrollmentFailureReason, EnrollmentStep, EnrollmentStepEvent } from 'enrollment-gateway/sdk';
import type { AttemptDoc, AttemptRecords } from './storage/attempt-records.js';

/** A step to record for a known attempt. */
export type StepInput = Omit<EnrollmentStepEvent, 'attemptId'> & { attemptId: string };

/** The attempt a step belongs to could not be told yet: the event is delivered again later. */
export class AttemptNotLinkedError extends Error {
  constructor(enrollmentId: string) {
    super(`no attempt is linked to enrollment ${enrollmentId} yet`);
    this.name = 'AttemptNotLinkedError';
  }
}

/**
 * Records the steps of attempts. Every write is a unique insert, so a handler delivered twice (or racing the
 * sweep) records each step once, counts it once and keeps the first failure of an attempt.
 */
export class AttemptRecorder {
  constructor(private readonly records: AttemptRecords) {}

  /**
   * The attempt of an event: the portal's attempt id, or the one linked to its session. A session the portal did
   * not create (an admin's link) is its own attempt once `giveUp` says the link is not coming.
   */
  async attemptOf(
    event: Pick<EnrollmentStepEvent, 'attemptId' | 'enrollmentId'>,
    giveUp: boolean,
  ): Promise<string | undefined> {
    if (event.attemptId) return event.attemptId;
    if (!event.enrollmentId) return undefined;
    const link = await this.records.linkOf(event.enrollmentId);
    if (link) return link.attemptId;
    if (!giveUp) throw new AttemptNotLinkedError(event.enrollmentId);
    await this.records.insertLink({ _id: event.enrollmentId, attemptId: event.enrollmentId, at: new Date() });
    return (await this.records.linkOf(event.enrollmentId))?.attemptId ?? event.enrollmentId;
  }

  async record(input: StepInput): Promise<void> {
    const { records } = this;
    const attempt = await this.attempt(input);
    const stepId = `${input.attemptId}:${input.step}`;
    await records.insertStep({
      _id: stepId,
      attemptId: input.attemptId,
      step: input.step,
      outcome: input.outcome,
      at: input.at,
      ...(input.reason ? { reason: input.reason } : {}),
      ...(input.detail ? { detail: input.detail } : {}),
      ...(input.method ? { method: input.method } : {}),
      ...(input.deviceId ? { deviceId: input.deviceId } : {}),
    });
    if (input.step === 'session-created' && input.outcome === 'passed' && input.enrollmentId) {
      await records.insertLink({ _id: input.enrollmentId, attemptId: input.attemptId, at: input.at });
      await records.insertOpen({
        _id: input.attemptId,
        enrollmentId: input.enrollmentId,
        expiresAt: input.expiresAt ?? input.at,
        at: input.at,
      });
    }
    // Only an attempt's first failure counts; passed steps always do.
    const counts = input.outcome === 'passed' || (await this.recordFailure(input, attempt));
    if (counts) {
      await records.insertPending({
        _id: stepId,
        at: input.at,
        step: input.step,
        outcome: input.outcome,
        ...(input.reason ? { reason: input.reason } : {}),
        ...(attempt.profileId || input.profileId ? { profileId: input.profileId ?? attempt.profileId } : {}),
        groups: attempt.groups,
      });
    }
    if (input.outcome === 'failed' || input.step === 'ready') await records.closeOpen(input.attemptId);
  }

  /** The attempt's record, inserted by its first step (later steps only read it). */
  private async attempt(input: StepInput): Promise<AttemptDoc> {
    const existing = await this.records.attempt(input.attemptId);
    if (existing) return existing;
    const doc: AttemptDoc = {
      _id: input.attemptId,
      startedAt: input.at,
      groups: input.groups ?? [],
      ...(input.userId ? { userId: input.userId } : {}),
      ...(input.userName ? { userName: input.userName } : {}),
      ...(input.profileId ? { profileId: input.profileId } : {}),
      ...(input.platform ? { platform: input.platform } : {}),
      ...(input.osVersion ? { osVersion: input.osVersion } : {}),
    };
    if (await this.records.insertAttempt(doc)) return doc;
    return (await this.records.attempt(input.attemptId)) ?? doc;
  }

  private async recordFailure(input: StepInput, attempt: AttemptDoc): Promise<boolean> {
    const reason: EnrollmentFailureReason | undefined = input.reason;
    // A failed step without a reason is no failure anyone can act on: it is neither listed nor counted.
    if (!reason) return false;
    const userId = attempt.userId ?? input.userId;
    const userName = attempt.userName ?? input.userName;
    const profileId = input.profileId ?? attempt.profileId;
    const platform = attempt.platform ?? input.platform;
    const osVersion = attempt.osVersion ?? input.osVersion;
    return this.records.insertFailure({
      _id: input.attemptId,
      at: input.at,
      step: input.step,
      reason,
      ...(input.vetoedBy ? { vetoedBy: input.vetoedBy } : {}),
      ...(input.detail ? { detail: input.detail } : {}),
      ...(userId ? { userId } : {}),
      ...(userName ? { userName } : {}),
      ...(profileId ? { profileId } : {}),
      ...(platform ? { platform } : {}),
      ...(osVersion ? { osVersion } : {}),
      ...(input.enrollmentId ? { enrollmentId: input.enrollmentId } : {}),
      ...(attempt.groups.length ? { groups: attempt.groups } : {}),
    });
  }

  /** Steps the sweep learns (not installed in time, Authenticator, ready): recorded like events. */
  async sweepStep(
    open: { _id: string; enrollmentId: string },
    step: EnrollmentStep,
    reason?: EnrollmentFailureReason,
    extra: { deviceId?: string; detail?: string } = {},
  ): Promise<void> {
    await this.record({
      attemptId: open._id,
      enrollmentId: open.enrollmentId,
      step,
      outcome: reason ? 'failed' : 'passed',
      ...(reason ? { reason } : {}),
      at: new Date(),
      ...extra,
    });
  }
}
