import type { Logger } from 'pino';
import {
  certificateRevocation,
  type FactDoc,
  type FactKind,
  factId,
  inventoryId,
  pushInvalidId,
} from '../storage/device-records.js';
import {
  type CertificateDoc,
  type EnrollmentDoc,
  insertOnce,
  LEGACY_DEVICE_FIELDS,
  type LegacyDeviceDoc,
  type MdmModels,
} from '../storage/models.js';
import type { DeviceSecrets } from './device-secrets.js';
import type { RevocationList } from './revocation-list.js';

const LEGACY_DEVICE = { state: { $exists: true } };
const MARKER = 'one-writer-records';
const STATE_FACTS: Record<string, FactKind[]> = {
  pending: [],
  enrolled: ['enrolled'],
  'checked-out': ['enrolled', 'checked-out'],
  retiring: ['enrolled', 'retiring'],
  retired: ['enrolled', 'retired'],
};

/**
 * At start: turns records of before the one-writer split into the new ones. Idempotent (every step is an
 * insert-once or a replace of the same value), so replicas starting together, or a start that crashed half
 * way, are fine. Revocations go first: an identity the old record refused is refused before anything else.
 */
export class DeviceMigration {
  constructor(
    private readonly models: MdmModels,
    private readonly revocations: RevocationList,
    private readonly secrets: DeviceSecrets,
    private readonly logger: Logger,
  ) {}

  async run(): Promise<{ devices: number; certificates: number; sessions: number }> {
    // Certificates and sessions keep their old fields (they are not rewritten): a marker says they were done.
    const done = Boolean(await this.models.migrations.exists({ _id: MARKER }));
    const certificates = done ? 0 : await this.certificates();
    let devices = 0;
    for await (const doc of this.models.devices.collection.find(LEGACY_DEVICE)) {
      await this.device(doc as unknown as LegacyDeviceDoc);
      devices++;
    }
    const sessions = done ? 0 : await this.sessions();
    await insertOnce(this.models.migrations, { _id: MARKER, at: new Date() });
    if (devices + certificates + sessions > 0)
      this.logger.info({ devices, certificates, sessions }, 'migrated mdm records to one writer per record');
    return { devices, certificates, sessions };
  }

  /** Certificates revoked in place become revocations. */
  private async certificates(): Promise<number> {
    let count = 0;
    const revoked = this.models.certificates
      .find({ revokedAt: { $exists: true } })
      .lean<CertificateDoc[]>()
      .cursor();
    for await (const c of revoked) {
      if (await this.models.revocations.exists({ _id: certificateRevocation(c._id) })) continue;
      await this.revocations.revoke({ serial: c._id, enrollmentId: c.enrollmentId }, c.revocationReason ?? 'revoked');
      count++;
    }
    return count;
  }

  private fact(doc: LegacyDeviceDoc, enrollmentId: string, kind: FactKind, at: Date | undefined) {
    return insertOnce<FactDoc>(this.models.facts, {
      _id: factId(enrollmentId, kind),
      enrollmentId,
      kind,
      at: at ?? doc.updatedAt ?? new Date(),
      deviceId: String(doc._id),
      udid: doc.udid,
      ...(doc.userId ? { userId: doc.userId } : {}),
    });
  }

  private async device(doc: LegacyDeviceDoc): Promise<void> {
    const deviceId = String(doc._id);
    const enrollmentId = doc.enrollmentId ?? `legacy-${deviceId}`;
    const state = doc.state ?? 'pending';
    // Refused before: revoked, or gone from management.
    if (doc.identityRevoked || state === 'checked-out' || state === 'retired')
      await this.revocations.revoke({ enrollmentId }, doc.identityRevoked ? 'revoked' : state);
    await this.fact(doc, enrollmentId, 'authenticated', doc.authenticatedAt);
    const at: Partial<Record<FactKind, Date | undefined>> = {
      enrolled: doc.enrolledAt,
      'checked-out': doc.checkedOutAt,
      retired: doc.retiredAt,
    };
    for (const kind of STATE_FACTS[state] ?? []) await this.fact(doc, enrollmentId, kind, at[kind]);
    if (doc.lastSeenAt) await insertOnce(this.models.presence, { _id: deviceId, lastSeenAt: new Date(doc.lastSeenAt) });
    await this.inventory(doc, deviceId, enrollmentId);
    const credentials = await this.secrets.legacyCredentials({ ...doc, enrollmentId });
    if (credentials && (await insertOnce(this.models.pushCredentials, credentials)) && doc.pushTokenInvalid?.reason)
      await insertOnce(this.models.pushInvalid, {
        _id: pushInvalidId(credentials),
        deviceId,
        reason: doc.pushTokenInvalid.reason,
        at: doc.pushTokenInvalid.at ?? new Date(),
      });
    // Last: the binding loses its legacy fields (a device without an enrollment gets the placeholder above).
    await this.models.devices.collection.updateOne(
      { _id: doc._id },
      {
        $set: { enrollmentId },
        $unset: Object.fromEntries(LEGACY_DEVICE_FIELDS.map((f) => [f, ''])),
      },
    );
  }

  private async inventory(doc: LegacyDeviceDoc, deviceId: string, enrollmentId: string): Promise<void> {
    const base = { deviceId, enrollmentId, at: doc.updatedAt ?? new Date() };
    if (doc.managedApps?.length)
      await insertOnce(this.models.inventory, {
        _id: inventoryId(deviceId, 'apps'),
        ...base,
        kind: 'apps',
        managedApps: doc.managedApps,
      });
    if (doc.installedProfiles?.length)
      await insertOnce(this.models.inventory, {
        _id: inventoryId(deviceId, 'profiles'),
        ...base,
        kind: 'profiles',
        installedProfiles: doc.installedProfiles,
      });
  }

  /** Sessions whose steps were written in place get the same steps as facts. */
  private async sessions(): Promise<number> {
    let count = 0;
    const legacy = this.models.enrollments
      .find({ state: { $ne: 'issued' } })
      .lean<EnrollmentDoc[]>()
      .cursor();
    for await (const s of legacy) {
      const steps: FactKind[] = {
        issued: [],
        downloaded: ['downloaded'],
        'certificate-issued': ['downloaded', 'certificate-issued'],
        enrolled: ['downloaded', 'certificate-issued', 'enrolled'],
        cancelled: ['cancelled'],
        expired: [],
      }[s.state] as FactKind[];
      for (const kind of steps) {
        const inserted = await insertOnce<FactDoc>(this.models.facts, {
          _id: factId(s._id, kind),
          enrollmentId: s._id,
          kind,
          at: s.updatedAt ?? new Date(),
          ...(kind === 'downloaded' ? { challengeHash: s.challengeHash, profileIdentifier: s.profileIdentifier } : {}),
          ...(kind === 'certificate-issued' && s.certificateSerial ? { certificateSerial: s.certificateSerial } : {}),
          ...(kind === 'enrolled' && s.deviceId ? { deviceId: s.deviceId } : {}),
          ...(kind === 'cancelled' && s.cancelReason ? { reason: s.cancelReason } : {}),
        });
        if (inserted) count++;
      }
    }
    return count;
  }
}
