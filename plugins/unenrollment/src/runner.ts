import { createHash } from 'node:crypto';
import type {
  AuditLog,
  DeviceCommandService,
  DeviceDirectory,
  DeviceRetirementService,
  EventPublisher,
  RetirementStepResult,
  RetirementTarget,
} from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import type { UnenrollmentConfig } from './config.js';
import { isFinal, type ServerStep, type StepDoc, type StepKind, type UnenrollmentDoc } from './steps.js';
import type {
  EffectClaims,
  JoinedRequests,
  UnenrollmentProgress,
  UnenrollmentReader,
} from './storage/unenrollment-records.js';

export type Advance = { kind: 'finished' } | { kind: 'wait'; until: Date };

/** What the job reads and writes: it is the only writer of its unenrollment after creation. */
export type RunnerRecords = Pick<UnenrollmentReader, 'get'> &
  UnenrollmentProgress &
  Pick<JoinedRequests, 'of' | 'checkedOutAt'> &
  EffectClaims;

/** What a server step did, in words for the step's detail (and the list for the audit record). */
export interface StepReport {
  /** False when the step left things alone on purpose (the device enrolled again since). */
  applied: boolean;
  /** What the step removed, for the audit record. */
  removed: string[];
  detail: string;
}

export interface RunnerDeps {
  records: RunnerRecords;
  retirement: () => DeviceRetirementService;
  directory: () => DeviceDirectory;
  commands: () => DeviceCommandService;
  audit: () => AuditLog | undefined;
  events: EventPublisher;
  config: Pick<UnenrollmentConfig, 'acknowledgementTimeoutMs' | 'pollIntervalMs'>;
  logger: Logger;
}

const ORIGIN = 'unenrollment';
const CHECKED_OUT = 'the device checked out: it removed its management profile itself';
const SUPERSEDED = 'not sent: the device enrolled again since, and its new enrollment keeps what it has';
const GONE = 'not sent: the device is no longer recorded';
const SUPERSEDED_SERVER = 'the device enrolled again since; its new enrollment was left alone';

/**
 * The same CommandUUID every time a step is sent: after a crash the step is sent again, and mdm ignores a UUID
 * it already queued for the device, so the device gets each removal once.
 */
export function commandUuidFor(unenrollmentId: string, step: string): string {
  const h = createHash('sha256').update(`unenroll:${unenrollmentId}:${step}`).digest('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Moves one unenrollment forward as far as it can go now. All progress lives in MongoDB, step by step, so any
 * worker can pick it up after a crash: finished steps are never run again, a step that was running is run
 * again (each one is idempotent), and remote commands keep their UUIDs and deadlines.
 */
export class UnenrollmentRunner {
  constructor(private readonly deps: RunnerDeps) {}

  async advance(id: string): Promise<Advance> {
    const doc = await this.load(id);
    if (doc?.state !== 'in-progress') return { kind: 'finished' };
    doc.checkedOutAt ??= await this.checkedOutAt(id);
    const target: RetirementTarget = { deviceId: doc.deviceId, enrollmentId: doc.enrollmentId };
    const device = await this.deps.retirement().begin(target);
    // Nothing may be sent to a newer enrollment of the same phone: it would remove what that one installed.
    const closed = doc.checkedOutAt
      ? CHECKED_OUT
      : !device
        ? GONE
        : doc.enrollmentId && device.enrollmentId !== doc.enrollmentId
          ? SUPERSEDED
          : undefined;

    await this.cancelQueued(doc, target, closed);
    for (const [kind, deadline] of [
      ['remove-item', 'itemsDeadline'],
      ['remove-mdm', 'mdmDeadline'],
    ] as const) {
      const outcome = await this.remoteGroup(doc, kind, deadline, closed);
      if (outcome) {
        // A CheckOut that landed while this ran should not wait for the next poll.
        if (!doc.checkedOutAt && (await this.checkedOutAt(id))) return this.advance(id);
        return outcome;
      }
    }

    for (let index = 0; index < doc.steps.length; index++) {
      const step = doc.steps[index];
      if (step.kind === 'server' && !isFinal(step)) await this.serverStep(doc, index, target, closed === SUPERSEDED);
    }
    const unreachable = doc.steps.some((s) => s.kind !== 'server' && s.state === 'timed-out');
    await this.deps.records.finish(id, unreachable ? 'device-unreachable' : 'completed', new Date());
    this.deps.logger.info({ deviceId: doc.deviceId, unreachable }, 'unenrollment finished');
    return { kind: 'finished' };
  }

  private load(id: string): Promise<UnenrollmentDoc | undefined> {
    return this.deps.records.get(id);
  }

  /** When a CheckOut joined the unenrollment, if one did. */
  private checkedOutAt(id: string): Promise<Date | undefined> {
    return this.deps.records.checkedOutAt(id);
  }

  /** Cancels what was still queued (an install not yet delivered) before any removal is sent. */
  private async cancelQueued(doc: UnenrollmentDoc, target: RetirementTarget, closed?: string): Promise<void> {
    const index = doc.steps.findIndex((s) => s.kind === 'cancel');
    if (index < 0 || isFinal(doc.steps[index])) return;
    if (closed) {
      await this.setStep(doc, index, { state: 'skipped', detail: closed });
      return;
    }
    const result = await this.deps.retirement().clearCommands(target);
    await this.setStep(doc, index, { state: 'done', detail: summary(result, 'nothing was queued') }, 1);
  }

  /**
   * Sends a group of removals (once), then reads their answers. Returns a wait while answers are missing and the
   * deadline has not passed; undefined when every step of the group is settled.
   */
  private async remoteGroup(
    doc: UnenrollmentDoc,
    kind: Extract<StepKind, 'remove-item' | 'remove-mdm'>,
    deadlineField: 'itemsDeadline' | 'mdmDeadline',
    closed?: string,
  ): Promise<Advance | undefined> {
    const open = () =>
      doc.steps.map((step, index) => ({ step, index })).filter((s) => s.step.kind === kind && !isFinal(s.step));
    if (open().length === 0) return undefined;
    if (closed) {
      for (const { step, index } of open()) await this.settleClosed(doc, step, index, closed);
      return undefined;
    }
    if (kind === 'remove-mdm' && doc.steps.some((s) => s.kind === 'remove-item' && s.state === 'timed-out')) {
      for (const { index } of open()) {
        await this.setStep(doc, index, {
          state: 'skipped',
          detail: 'not sent: the device did not answer the removals before it',
        });
      }
      return undefined;
    }
    for (const { step, index } of open()) {
      if (step.state !== 'pending') continue;
      const commandUuid = commandUuidFor(doc._id, step.name);
      const [queued] = await this.deps.commands().enqueue([doc.deviceId], {
        commandUuid,
        requestType: step.requestType ?? 'RemoveProfile',
        payload: { Identifier: step.identifier },
        origin: ORIGIN,
      });
      if (!queued) {
        await this.setStep(doc, index, { state: 'skipped', detail: 'not sent: the device is no longer managed' });
        continue;
      }
      await this.setStep(
        doc,
        index,
        { state: 'running', commandUuid, detail: 'sent; waiting for the device' },
        queued.created ? 1 : 0,
      );
    }
    const deadline = await this.deadline(doc, deadlineField);
    let waiting = 0;
    for (const { step, index } of open()) {
      if (!step.commandUuid) continue;
      const outcome = await this.deps.retirement().commandOutcome(doc.deviceId, step.commandUuid);
      if (outcome?.state === 'acknowledged')
        await this.setStep(doc, index, { state: 'done', detail: 'removed by the device' });
      else if (outcome?.state === 'error' || outcome?.state === 'format-error') {
        await this.setStep(doc, index, {
          state: 'failed',
          detail: `the device answered ${outcome.state === 'error' ? 'Error' : 'CommandFormatError'}${outcome.detail ? `: ${outcome.detail}` : ''}`,
        });
      } else if (outcome?.state === 'cancelled') {
        // mdm cancels what is queued when the device checks out, just before it tells us about the CheckOut.
        const device = await this.deps.directory().get(doc.deviceId);
        await this.setStep(doc, index, this.cancelledOutcome(step, device?.state === 'checked-out'));
      } else waiting++;
    }
    if (waiting === 0) return undefined;
    const now = Date.now();
    if (now >= deadline.getTime()) {
      const seconds = Math.round(this.deps.config.acknowledgementTimeoutMs / 1000);
      for (const { index } of open()) {
        await this.setStep(doc, index, { state: 'timed-out', detail: `no answer within ${seconds} s` });
      }
      return undefined;
    }
    return { kind: 'wait', until: new Date(Math.min(deadline.getTime(), now + this.deps.config.pollIntervalMs)) };
  }

  /** A step already answered keeps its answer; one the device never got is moot (after CheckOut, say). */
  private async settleClosed(doc: UnenrollmentDoc, step: StepDoc, index: number, reason: string): Promise<void> {
    const outcome = step.commandUuid
      ? await this.deps.retirement().commandOutcome(doc.deviceId, step.commandUuid)
      : undefined;
    if (outcome?.state === 'acknowledged')
      await this.setStep(doc, index, { state: 'done', detail: 'removed by the device' });
    else if (outcome?.state === 'error' || outcome?.state === 'format-error') {
      await this.setStep(doc, index, {
        state: 'failed',
        detail: `the device answered Error${outcome.detail ? `: ${outcome.detail}` : ''}`,
      });
    } else if (outcome?.state === 'cancelled' && reason === CHECKED_OUT)
      await this.setStep(doc, index, this.cancelledOutcome(step, true));
    else await this.setStep(doc, index, { state: 'skipped', detail: reason });
  }

  /**
   * A removal cancelled because the device checked out. An iPhone usually answers RemoveProfile of its own MDM
   * profile not with Acknowledged but by removing it and sending CheckOut: for that step the CheckOut is the
   * answer, and the profile counts as removed.
   */
  private cancelledOutcome(step: StepDoc, checkedOut: boolean): Partial<StepDoc> {
    if (checkedOut && step.kind === 'remove-mdm')
      return { state: 'done', detail: 'removed by the device (it checked out instead of answering)' };
    return {
      state: 'skipped',
      detail: checkedOut ? CHECKED_OUT : 'the command was cancelled before the device answered',
    };
  }

  /** Fixed the first time a group is sent, so a worker that resumes after a crash keeps the same deadline. */
  private async deadline(doc: UnenrollmentDoc, field: 'itemsDeadline' | 'mdmDeadline'): Promise<Date> {
    if (doc[field]) return new Date(doc[field]);
    const deadline = new Date(Date.now() + this.deps.config.acknowledgementTimeoutMs);
    await this.deps.records.setDeadline(doc._id, field, deadline);
    doc[field] = deadline;
    return deadline;
  }

  /** Runs one server-side step; a failure is recorded and rethrown so BullMQ retries the job with backoff. */
  private async serverStep(
    doc: UnenrollmentDoc,
    index: number,
    target: RetirementTarget,
    superseded: boolean,
  ): Promise<void> {
    const name = doc.steps[index].name as ServerStep;
    await this.setStep(doc, index, { state: 'running', detail: undefined }, 1);
    try {
      const result = await this.runServerStep(name, doc, target, superseded);
      await this.setStep(doc, index, {
        state: result.applied ? 'done' : 'skipped',
        detail: result.detail,
        removed: result.removed,
      });
    } catch (error) {
      await this.setStep(doc, index, { state: 'failed', detail: (error as Error).message.slice(0, 300) });
      throw error;
    }
  }

  private async runServerStep(
    name: ServerStep,
    doc: UnenrollmentDoc,
    target: RetirementTarget,
    superseded: boolean,
  ): Promise<StepReport> {
    const retirement = this.deps.retirement();
    switch (name) {
      case 'revoke-certificates':
        return removal(await retirement.revokeIdentity(target, `unenrolled (${doc.trigger})`), 'nothing to revoke');
      case 'clear-command-queue':
        return removal(await retirement.clearCommands(target), 'no command was queued');
      case 'erase-secrets':
        return removal(await retirement.eraseSecrets(target), 'no secret was stored');
      case 'mark-retired': {
        const result = await retirement.complete(target);
        const late = result.removed.length > 0 ? `; erased again: ${result.removed.join(', ')}` : '';
        return removal(result, '', `recorded as retired: its identity is refused from now on${late}`);
      }
      case 'audit-record':
        return this.audit(doc);
      case 'announce':
        return this.announce(doc, superseded);
    }
  }

  /** Tells every plugin the device is gone (`device.unenrolled`), unless it is managed again. */
  private async announce(doc: UnenrollmentDoc, superseded: boolean): Promise<StepReport> {
    // The phone is managed again under its new enrollment: "every trace is gone" would be false.
    if (superseded)
      return { applied: false, removed: [], detail: `${SUPERSEDED_SERVER}; device.unenrolled was not announced` };
    // A repeat after a crash raises the same fact again, under the same id, so receivers can drop it.
    const eventId = `unenrolled:${doc._id}`;
    const { recorded } = await this.deps.events.emit(
      'device.unenrolled',
      { deviceId: doc.deviceId, udid: doc.udid, reason: doc.trigger, unreachable: unreachable(doc), eventId },
      { eventId },
    );
    return {
      applied: true,
      removed: [],
      detail: recorded
        ? `announced device.unenrolled (event ${eventId})`
        : `device.unenrolled was announced before (event ${eventId}); its delivery was checked again`,
    };
  }

  /** The minimal record: which device, who asked, when, and what was removed. */
  private async audit(doc: UnenrollmentDoc): Promise<StepReport> {
    const log = this.deps.audit();
    if (!log) return { applied: true, removed: [], detail: 'no audit log: the admin-access plugin is not enabled' };
    // The audit log takes no key of ours: a claim tells a repeat (after a crash) that the record was written.
    const claimId = `${doc._id}|audit-record`;
    const claim = await this.deps.records.claim(claimId);
    if (claim === 'done') return { applied: true, removed: [], detail: 'the audit record was written before' };
    const requests = (await this.deps.records.of([doc._id])).get(doc._id) ?? [];
    const removed = doc.steps.flatMap((s) =>
      s.kind === 'server'
        ? (s.removed ?? [])
        : s.kind !== 'cancel' && s.state === 'done'
          ? [`${s.requestType} ${s.identifier}`]
          : [],
    );
    await log.record({
      actor: { id: ORIGIN, kind: 'system', displayName: 'Unenrollment' },
      action: 'device.unenroll',
      target: { type: 'device', id: doc.deviceId },
      after: {
        udid: doc.udid,
        userId: doc.userId,
        enrollmentId: doc.enrollmentId,
        trigger: doc.trigger,
        requests: requests.map((r) => ({
          trigger: r.trigger,
          by: `${r.requestedBy.kind}:${r.requestedBy.id}`,
          at: r.at,
        })),
        startedAt: doc.startedAt,
        outcome: unreachable(doc) ? 'device-unreachable' : 'completed',
        removed,
        // The earlier attempt stopped inside the call: it may or may not have written. Losing the record would be
        // worse than a second one, which says what it is (and shares the requestId).
        ...(claim === 'unconfirmed' ? { repeatOfUnconfirmedRecord: true } : {}),
      },
      requestId: `unenrollment:${doc._id}`,
    });
    await this.deps.records.made(claimId);
    const items = `${removed.length} removal${removed.length === 1 ? '' : 's'}`;
    return {
      applied: true,
      removed: [],
      detail:
        claim === 'unconfirmed'
          ? `audit record device.unenroll written again (${items}): an earlier try stopped before it could confirm`
          : `audit record device.unenroll written (${items})`,
    };
  }

  /** Writes one step (by position: the list is fixed at creation) and keeps the local copy in step. */
  private async setStep(doc: UnenrollmentDoc, index: number, patch: Partial<StepDoc>, attempts = 0): Promise<void> {
    const now = new Date();
    await this.deps.records.setStep(doc._id, index, patch, now, attempts);
    const step: StepDoc = { ...doc.steps[index], ...patch, updatedAt: now };
    if (attempts > 0) step.attempts = doc.steps[index].attempts + attempts;
    for (const [key, value] of Object.entries(patch)) if (value === undefined) delete step[key as keyof StepDoc];
    doc.steps[index] = step;
  }
}

const unreachable = (doc: UnenrollmentDoc) => doc.steps.some((s) => s.kind !== 'server' && s.state === 'timed-out');

function summary(result: RetirementStepResult, nothing: string): string {
  return result.removed.length > 0 ? result.removed.join(', ') : nothing;
}

/**
 * A retirement step's result as a report: what it removed (or `nothing` when it removed nothing), or `done` when
 * the step says what it did in its own words; a step that left a newer enrollment alone says so.
 */
function removal(result: RetirementStepResult, nothing: string, done?: string): StepReport {
  if (!result.applied) {
    const removed = result.removed.length > 0 ? ` (${result.removed.join(', ')})` : '';
    return { applied: false, removed: result.removed, detail: `${SUPERSEDED_SERVER}${removed}` };
  }
  return { applied: true, removed: result.removed, detail: done ?? summary(result, nothing) };
}
