import type {
  CommandOutcome,
  DeviceRecord,
  DeviceRetirementService,
  RetirementStepResult,
  RetirementTarget,
} from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import type { Logger } from 'pino';
import type { CommandHistoryItem } from '../storage/command-store.js';
import { type FactDoc, type FactKind, factId } from '../storage/device-records.js';
import { type DeviceView, type DeviceViews, toDeviceRecord } from '../storage/device-views.js';
import { insertOnce, type MdmModels } from '../storage/models.js';
import type { CommandService } from './command-service.js';
import { crashPoint } from './crash-points.js';
import type { DeviceBindingCache } from './device-binding-cache.js';
import type { DeviceSecrets } from './device-secrets.js';
import type { EnrollmentService } from './enrollment-service.js';
import type { RevocationList } from './revocation-list.js';

const NOT_APPLIED: RetirementStepResult = { applied: false, removed: [] };

/** The mdm side of unenrollment: each operation touches only the enrollment it names, and may run again. */
export class RetirementService implements DeviceRetirementService {
  constructor(
    private readonly models: MdmModels,
    private readonly views: DeviceViews,
    private readonly revocations: RevocationList,
    private readonly secrets: DeviceSecrets,
    private readonly enrollments: EnrollmentService,
    private readonly commands: Pick<CommandService, 'clearQueue' | 'outcome'>,
    private readonly logger: Logger,
    private readonly bindingCache?: Pick<DeviceBindingCache, 'forget' | 'invalidateDevice'>,
  ) {}

  /** The device of exactly this enrollment (its current one, when none is named); undefined otherwise. */
  private async current(target: RetirementTarget): Promise<DeviceView | undefined> {
    if (!Types.ObjectId.isValid(target.deviceId)) return undefined;
    const view = await this.views.byId(target.deviceId);
    if (!view?.binding.enrollmentId) return undefined;
    if (target.enrollmentId && view.binding.enrollmentId !== target.enrollmentId) return undefined;
    return view;
  }

  private fact(view: DeviceView, kind: FactKind): Promise<boolean> {
    const enrollmentId = view.binding.enrollmentId!;
    return insertOnce<FactDoc>(this.models.facts, {
      _id: factId(enrollmentId, kind),
      enrollmentId,
      kind,
      at: new Date(),
      deviceId: String(view.binding._id),
    });
  }

  /** Marks this enrollment retiring; returns the device as it is now (possibly under a newer enrollment). */
  async begin(target: RetirementTarget): Promise<DeviceRecord | undefined> {
    const view = await this.current(target);
    if (view && (view.state === 'pending' || view.state === 'enrolled')) await this.fact(view, 'retiring');
    if (!Types.ObjectId.isValid(target.deviceId)) return undefined;
    const now = await this.views.byId(target.deviceId);
    return now ? toDeviceRecord(now) : undefined;
  }

  enrollmentProfileIdentifier(target: RetirementTarget): Promise<string> {
    return this.enrollments.profileIdentifierOf(target.enrollmentId);
  }

  async commandOutcome(deviceId: string, commandUuid: string): Promise<CommandOutcome | undefined> {
    const doc = await this.commands.outcome(deviceId, commandUuid);
    if (!doc) return undefined;
    return { state: doc.state, detail: errorDetail(doc), respondedAt: doc.respondedAt };
  }

  /**
   * Revokes the enrollment: every identity it was issued (renewals included, and any renewal still in flight:
   * they carry the enrollment) is refused from the next request on, on every replica.
   */
  async revokeIdentity(target: RetirementTarget, reason: string): Promise<RetirementStepResult> {
    const enrollmentId =
      target.enrollmentId ??
      (Types.ObjectId.isValid(target.deviceId)
        ? (await this.views.byId(target.deviceId))?.binding.enrollmentId
        : undefined);
    if (!enrollmentId) return NOT_APPLIED;
    const view = await this.current({ ...target, enrollmentId });
    await this.revocations.revoke({ enrollmentId }, reason);
    // Every identity of the enrollment is refused by this one record (a check-out may have recorded it first).
    const certificates = await this.models.certificates.countDocuments({ enrollmentId });
    if (!view) return { applied: false, removed: countOf(certificates, 'identity certificate') };
    this.logger.info({ deviceId: target.deviceId, enrollmentId, certificates }, 'device identity revoked');
    return { applied: true, removed: countOf(certificates, 'identity certificate') };
  }

  /**
   * Cancels the commands still pending for this enrollment. Commands carry no enrollment, so the cut-off is the
   * moment the device was last seen as this enrollment: a re-enrollment in between queues its commands later,
   * and they stay. A second pass catches what this enrollment queued while the first one ran.
   */
  async clearCommands(target: RetirementTarget): Promise<RetirementStepResult> {
    let cancelled = 0;
    for (let pass = 0; pass < 2; pass++) {
      const cutoff = new Date();
      if (!(await this.current(target))) {
        if (pass === 0) return NOT_APPLIED;
        break;
      }
      cancelled += await this.commands.clearQueue(target.deviceId, cutoff);
    }
    return { applied: true, removed: countOf(cancelled, 'queued command') };
  }

  async eraseSecrets(target: RetirementTarget): Promise<RetirementStepResult> {
    if (!Types.ObjectId.isValid(target.deviceId)) return NOT_APPLIED;
    const current = await this.current(target);
    const removed = await this.secrets.erase(target.deviceId, target.enrollmentId);
    this.logger.info({ deviceId: target.deviceId, removed }, 'device secrets erased');
    return { applied: Boolean(current), removed };
  }

  /** Revoked first (fail closed), then 'retired' recorded, then erased once more. */
  async complete(target: RetirementTarget): Promise<RetirementStepResult> {
    const view = await this.current(target);
    if (!view) return NOT_APPLIED;
    await this.revocations.revoke({ enrollmentId: view.binding.enrollmentId }, 'retired');
    await crashPoint('retirement:after-revoke');
    // Its cache entries go: the generation first, so a request that read the database before this stores nothing.
    await this.bindingCache?.invalidateDevice(view.binding.udid);
    const certificates = await this.models.certificates
      .find({ enrollmentId: view.binding.enrollmentId }, { fingerprint: 1 })
      .lean<{ fingerprint: string }[]>();
    await this.bindingCache?.forget(certificates.map((c) => c.fingerprint));
    await this.fact(view, 'retired');
    await crashPoint('retirement:after-retired');
    // A TokenUpdate that was verified before the erase can still write its secrets (and a new data key) after
    // it; from the revocation on no check-in is accepted, so erasing once more now is final.
    const late = await this.secrets.erase(target.deviceId, view.binding.enrollmentId);
    if (late.length > 0)
      this.logger.warn({ deviceId: target.deviceId, late }, 'erased secrets written during retirement');
    return { applied: true, removed: late.map((what) => `${what} (written again during retirement)`) };
  }

  async checkedOut(limit: number): Promise<DeviceRecord[]> {
    const facts = await this.models.facts
      .find({ kind: 'checked-out' }, { deviceId: 1, enrollmentId: 1 })
      .sort({ at: 1 })
      .lean<FactDoc[]>();
    const out: DeviceRecord[] = [];
    for (let i = 0; i < facts.length && out.length < limit; i += 100) {
      const views = await this.views.byIds(facts.slice(i, i + 100).flatMap((f) => (f.deviceId ? [f.deviceId] : [])));
      for (const view of views) if (view.state === 'checked-out' && out.length < limit) out.push(toDeviceRecord(view));
    }
    return out;
  }

  async inactiveSince(before: Date, limit: number): Promise<DeviceRecord[]> {
    const out: DeviceRecord[] = [];
    const silent = this.models.presence
      .find({ lastSeenAt: { $lt: before } }, { _id: 1 })
      .sort({ lastSeenAt: 1 })
      .lean<{ _id: string }[]>()
      .cursor();
    let batch: string[] = [];
    const flush = async () => {
      for (const view of await this.views.byIds(batch))
        if ((view.state === 'pending' || view.state === 'enrolled') && out.length < limit)
          out.push(toDeviceRecord(view));
      batch = [];
    };
    for await (const doc of silent) {
      batch.push(doc._id);
      if (batch.length >= 100) await flush();
      if (out.length >= limit) break;
    }
    if (out.length < limit) await flush();
    return out.sort((a, b) => (a.lastSeenAt?.getTime() ?? 0) - (b.lastSeenAt?.getTime() ?? 0));
  }
}

function countOf(n: number, what: string): string[] {
  return n > 0 ? [`${n} ${what}${n === 1 ? '' : 's'}`] : [];
}

/** The device's own words for an Error answer: the first LocalizedDescription of its ErrorChain. */
function errorDetail(doc: CommandHistoryItem): string | undefined {
  if (doc.state !== 'error' && doc.state !== 'format-error') return undefined;
  const first = doc.errorChain?.[0] as { LocalizedDescription?: unknown } | undefined;
  return typeof first?.LocalizedDescription === 'string' ? first.LocalizedDescription : undefined;
}
