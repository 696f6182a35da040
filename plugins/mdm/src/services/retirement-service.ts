import type {
  CommandOutcome,
  DeviceRecord,
  DeviceRetirementService,
  RetirementStepResult,
  RetirementTarget,
} from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import type { Logger } from 'pino';
import { type CommandDoc, type DeviceDoc, type MdmModels, PENDING_COMMAND_STATES } from '../storage/models.js';
import type { CertificateService } from './certificate-service.js';
import type { DeviceSecrets } from './device-secrets.js';
import { toDeviceRecord } from './directory.js';
import type { EnrollmentService } from './enrollment-service.js';

const NOT_APPLIED: RetirementStepResult = { applied: false, removed: [] };
/** Renewals racing the revocation are caught within a few passes; more means something keeps issuing. */
const MAX_REVOKE_PASSES = 5;
const publicProjection = { unlockTokenEncrypted: 0, identityFingerprints: 0 } as const;

/** The mdm side of unenrollment: each operation touches only the enrollment it names, and may run again. */
export class RetirementService implements DeviceRetirementService {
  constructor(
    private readonly models: MdmModels,
    private readonly certificates: CertificateService,
    private readonly secrets: DeviceSecrets,
    private readonly enrollments: EnrollmentService,
    private readonly logger: Logger,
  ) {}

  async begin(target: RetirementTarget): Promise<DeviceRecord | undefined> {
    const filter = this.filter(target);
    if (!filter) return undefined;
    await this.models.devices.updateOne(
      { ...filter, state: { $in: ['pending', 'enrolled'] } },
      { $set: { state: 'retiring' } },
    );
    const doc = await this.models.devices.findOne({ _id: filter._id }, publicProjection).lean<DeviceDoc>();
    return doc ? toDeviceRecord(doc) : undefined;
  }

  enrollmentProfileIdentifier(target: RetirementTarget): Promise<string> {
    return this.enrollments.profileIdentifierOf(target.enrollmentId);
  }

  async commandOutcome(deviceId: string, commandUuid: string): Promise<CommandOutcome | undefined> {
    const doc = await this.models.commands
      .findOne({ deviceId, commandUuid }, { state: 1, errorChain: 1, respondedAt: 1 })
      .lean<CommandDoc>();
    if (!doc) return undefined;
    return { state: doc.state, detail: errorDetail(doc), respondedAt: doc.respondedAt };
  }

  async revokeIdentity(target: RetirementTarget, reason: string): Promise<RetirementStepResult> {
    const filter = this.filter(target);
    if (!filter) return NOT_APPLIED;
    const current = await this.models.devices.exists(filter);
    // Only this enrollment's certificates: a newer enrollment's identity must keep working.
    const unrevoked = {
      deviceId: target.deviceId,
      revokedAt: { $exists: false },
      ...(target.enrollmentId ? { enrollmentId: target.enrollmentId } : {}),
    };
    // A SCEP renewal that read the device just before it became 'retiring' can still record a certificate after
    // the first pass: look again until a pass finds none (renewal re-checks the device after recording, so one
    // of the two always sees the other).
    let revoked = 0;
    for (let pass = 0; ; pass++) {
      const certificates = await this.models.certificates.find(unrevoked, { _id: 1 }).lean();
      if (certificates.length === 0) break;
      if (pass >= MAX_REVOKE_PASSES) throw new Error(`device ${target.deviceId} keeps getting new certificates`);
      for (const { _id } of certificates) await this.certificates.revoke(_id, reason);
      revoked += certificates.length;
    }
    if (!current) return { applied: false, removed: countOf(revoked, 'identity certificate') };
    await this.models.devices.updateOne(filter, { $set: { identityRevoked: true, identityFingerprints: [] } });
    this.logger.info({ deviceId: target.deviceId, revoked }, 'device identity revoked');
    return { applied: true, removed: countOf(revoked, 'identity certificate') };
  }

  /**
   * Cancels the commands still pending for this enrollment. Commands carry no enrollment, so the cut-off is the
   * moment the device was last seen as this enrollment: a re-enrollment in between queues its commands later,
   * and they stay. A second pass catches what this enrollment queued while the first one ran.
   */
  async clearCommands(target: RetirementTarget): Promise<RetirementStepResult> {
    const filter = this.filter(target);
    if (!filter) return NOT_APPLIED;
    let cancelled = 0;
    for (let pass = 0; pass < 2; pass++) {
      const cutoff = new Date();
      if (!(await this.models.devices.exists(filter))) {
        if (pass === 0) return NOT_APPLIED;
        break;
      }
      const result = await this.models.commands.updateMany(
        { deviceId: target.deviceId, state: { $in: PENDING_COMMAND_STATES }, createdAt: { $lte: cutoff } },
        { $set: { state: 'cancelled', respondedAt: new Date() } },
      );
      cancelled += result.modifiedCount;
    }
    return { applied: true, removed: countOf(cancelled, 'queued command') };
  }

  async eraseSecrets(target: RetirementTarget): Promise<RetirementStepResult> {
    const filter = this.filter(target);
    if (!filter) return NOT_APPLIED;
    const current = await this.models.devices.exists(filter);
    const removed = await this.secrets.erase(target.deviceId, target.enrollmentId);
    this.logger.info({ deviceId: target.deviceId, removed }, 'device secrets erased');
    return { applied: Boolean(current), removed };
  }

  async complete(target: RetirementTarget): Promise<RetirementStepResult> {
    const filter = this.filter(target);
    if (!filter) return NOT_APPLIED;
    const { matchedCount } = await this.models.devices.updateOne(filter, {
      $set: { state: 'retired', retiredAt: new Date() },
    });
    if (matchedCount === 0) return NOT_APPLIED;
    // A TokenUpdate that was verified before the erase can still write its secrets (and a new data key) after
    // it; from 'retired' on no check-in is accepted, so erasing once more now is final.
    const late = await this.secrets.erase(target.deviceId, target.enrollmentId);
    if (late.length > 0)
      this.logger.warn({ deviceId: target.deviceId, late }, 'erased secrets written during retirement');
    return { applied: true, removed: late.map((what) => `${what} (written again during retirement)`) };
  }

  async checkedOut(limit: number): Promise<DeviceRecord[]> {
    const docs = await this.models.devices
      .find({ state: 'checked-out' }, publicProjection)
      .sort({ checkedOutAt: 1 })
      .limit(limit)
      .lean<DeviceDoc[]>();
    return docs.map(toDeviceRecord);
  }

  async inactiveSince(before: Date, limit: number): Promise<DeviceRecord[]> {
    const docs = await this.models.devices
      .find(
        {
          state: { $in: ['pending', 'enrolled'] },
          $or: [{ lastSeenAt: { $lt: before } }, { lastSeenAt: { $exists: false }, createdAt: { $lt: before } }],
        },
        publicProjection,
      )
      .sort({ lastSeenAt: 1 })
      .limit(limit)
      .lean<DeviceDoc[]>();
    return docs.map(toDeviceRecord);
  }

  /** The device record of exactly this enrollment; undefined for an id that is not an ObjectId. */
  private filter(target: RetirementTarget): { _id: Types.ObjectId; enrollmentId?: string } | undefined {
    if (!Types.ObjectId.isValid(target.deviceId)) return undefined;
    const _id = new Types.ObjectId(target.deviceId);
    return target.enrollmentId ? { _id, enrollmentId: target.enrollmentId } : { _id };
  }
}

function countOf(n: number, what: string): string[] {
  return n > 0 ? [`${n} ${what}${n === 1 ? '' : 's'}`] : [];
}

/** The device's own words for an Error answer: the first LocalizedDescription of its ErrorChain. */
function errorDetail(doc: CommandDoc): string | undefined {
  if (doc.state !== 'error' && doc.state !== 'format-error') return undefined;
  const first = doc.errorChain?.[0] as { LocalizedDescription?: unknown } | undefined;
  return typeof first?.LocalizedDescription === 'string' ? first.LocalizedDescription : undefined;
}
