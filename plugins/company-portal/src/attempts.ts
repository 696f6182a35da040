import { randomUUID } from 'node:crypto';
import type {
  EnrollmentFailureReason,
  EnrollmentSession,
  EnrollmentStep,
  EnrollmentStepEvent,
  EventPublisher,
  ParsedUserAgent,
  Resolution,
  SignedInUser,
} from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** An attempt the user leaves unfinished for this long starts again on the next visit. */
const ATTEMPT_TTL_SECONDS = 30 * 60;
/** iOS and iPadOS before this enroll only through the Company Portal app. */
const WEB_ENROLLMENT_MIN_MAJOR = 15;

type StepFields = Omit<EnrollmentStepEvent, 'at' | 'attemptId' | 'userId' | 'userName' | 'groups'>;

/**
 * The portal's part of an enrollment attempt: sign-in, OS check, profile resolution and the session, raised as
 * `enrollment.step` events. The attempt's id lives in Redis per user (every replica sees it), so reloading the
 * page continues one attempt; a failed attempt or a created session ends it, and the next visit starts another.
 * Recording must never stop a user: a step that cannot be raised is logged.
 */
export class PortalAttempts {
  constructor(
    private readonly events: EventPublisher,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  private key(userId: string): string {
    return `${this.prefix}attempt:${userId}`;
  }

  /** The user's open attempt, started now when there is none (SET NX: two tabs at once share one). */
  private async current(userId: string): Promise<string> {
    const fresh = randomUUID();
    const set = await this.redis.set(this.key(userId), fresh, 'EX', ATTEMPT_TTL_SECONDS, 'NX');
    return set === 'OK' ? fresh : ((await this.redis.get(this.key(userId))) ?? fresh);
  }

  private async end(userId: string): Promise<void> {
    await this.redis.del(this.key(userId));
  }

  private async raise(user: SignedInUser, key: string, fields: StepFields, attemptId?: string): Promise<void> {
    const payload: EnrollmentStepEvent = {
      ...fields,
      at: new Date(),
      ...(attemptId ? { attemptId } : {}),
      userId: user.id,
      userName: user.upn ?? user.displayName,
      groups: [...user.groups],
    };
    await this.events.emit('enrollment.step', payload, { eventId: `enrollment.step:${key}:${fields.step}` });
  }

  private async guarded(what: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.logger.warn({ err: error, what }, 'enrollment step not recorded');
    }
  }

  /** The landing page decided: signed in, OS checked, profile resolved (or the reason it stops). */
  landed(user: SignedInUser, device: ParsedUserAgent, resolution: Resolution): Promise<void> {
    const apple = device.platform === 'iOS' || device.platform === 'iPadOS';
    // Other platforms and an unfinished setup are no enrollment attempt of a device user.
    if (!apple || resolution.outcome === 'setup-incomplete') return Promise.resolve();
    return this.guarded('landing', async () => {
      const attemptId = await this.current(user.id);
      const base = { platform: device.platform, ...(device.osVersion ? { osVersion: device.osVersion } : {}) };
      const profile = resolution.profile ? { profileId: resolution.profile.id } : {};
      await this.raise(user, attemptId, { ...base, step: 'signed-in', outcome: 'passed' }, attemptId);
      const major = Number.parseInt(device.osVersion ?? '', 10);
      if (resolution.outcome === 'company-portal-app' && major < WEB_ENROLLMENT_MIN_MAJOR) {
        await this.fail(user, attemptId, { ...base, ...profile, step: 'os-checked' }, 'os-too-old');
        return;
      }
      await this.raise(user, attemptId, { ...base, step: 'os-checked', outcome: 'passed' }, attemptId);
      const refused: Partial<Record<Resolution['outcome'], EnrollmentFailureReason>> = {
        'no-profile': 'no-profile',
        'device-limit': 'device-limit',
      };
      const reason = refused[resolution.outcome];
      if (reason) {
        const detail = resolution.deviceLimit
          ? `${resolution.deviceLimit.active} of ${resolution.deviceLimit.limit} devices`
          : undefined;
        await this.fail(user, attemptId, { ...base, ...profile, step: 'profile-resolved', detail }, reason);
        return;
      }
      await this.raise(
        user,
        attemptId,
        { ...base, ...profile, step: 'profile-resolved', outcome: 'passed' },
        attemptId,
      );
    });
  }

  private async fail(
    user: SignedInUser,
    attemptId: string,
    fields: Omit<StepFields, 'outcome' | 'reason'>,
    reason: EnrollmentFailureReason,
  ): Promise<void> {
    await this.raise(user, attemptId, { ...fields, outcome: 'failed', reason }, attemptId);
    await this.end(user.id);
  }

  /** The session behind the download exists: the attempt goes on under its enrollment id. */
  sessionCreated(user: SignedInUser, device: ParsedUserAgent, session: EnrollmentSession): Promise<void> {
    return this.guarded('session', async () => {
      const attemptId = await this.current(user.id);
      await this.raise(
        user,
        attemptId,
        {
          step: 'session-created',
          outcome: 'passed',
          enrollmentId: session.id,
          expiresAt: session.expiresAt,
          ...(session.profileId ? { profileId: session.profileId } : {}),
          platform: device.platform,
          ...(device.osVersion ? { osVersion: device.osVersion } : {}),
        },
        attemptId,
      );
      await this.end(user.id);
    });
  }

  /** A plugin vetoed the session. */
  vetoed(
    user: SignedInUser,
    profileId: string | undefined,
    plugin: string | undefined,
    detail?: string,
  ): Promise<void> {
    return this.guarded('veto', async () => {
      const attemptId = await this.current(user.id);
      const fields = {
        step: 'session-created' as const,
        ...(profileId ? { profileId } : {}),
        ...(plugin ? { vetoedBy: plugin } : {}),
        ...(detail ? { detail } : {}),
      };
      await this.fail(user, attemptId, fields, 'vetoed');
    });
  }

  /** The user downloaded again: the waiting session can no longer be installed. */
  cancelled(user: SignedInUser, session: EnrollmentSession): Promise<void> {
    const step: EnrollmentStep = session.state === 'issued' ? 'profile-downloaded' : 'identity-issued';
    return this.guarded('cancel', () =>
      this.raise(user, session.id, {
        step,
        outcome: 'failed',
        reason: 'user-cancelled',
        enrollmentId: session.id,
        detail: 'replaced by a newer download in the portal',
      }),
    );
  }
}
