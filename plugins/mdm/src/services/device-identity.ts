import { ProblemError } from 'enrollment-gateway/sdk';
import { CmsVerificationError, type VerifiedSigner, verifyDetachedSignature } from '../pki/index.js';
import type { InventoryDoc } from '../storage/device-records.js';
import type { IdentityBindings } from '../storage/identity-bindings.js';
import { type CertificateDoc, type DeviceDoc, type MdmModels, onDeviceBindingChange } from '../storage/models.js';
import {
  type BoundDevice,
  type DeviceBindingCache,
  REPORTED_FIELDS,
  type ReportedDeviceInfo,
} from './device-binding-cache.js';
import type { PresenceMarks } from './presence-marks.js';
import { type RevocationList, revocationIds } from './revocation-list.js';

/** The device a check-in speaks for, with the identity it signed with. */
export interface BoundCheckin {
  device: DeviceDoc;
  certificate: CertificateDoc;
  enrollmentId: string;
}

/**
 * Cross-cutting device authentication (the decorator around check-in and command handling):
 * the Mdm-Signature must be a valid detached CMS over the exact body by a certificate of our CA
 * with ClientAuth, the certificate must belong to the device's current enrollment (the binding written by
 * Authenticate), and neither that enrollment nor the certificate may be revoked (mdm_revocations, checked on
 * every request through its Redis mirror, whatever the binding cache holds).
 * Devices never get 401 (it can make them unenroll): failures are 400 or 403.
 */
export class DeviceIdentityVerifier {
  constructor(
    private readonly models: MdmModels,
    private readonly caCertPem: () => Promise<string>,
    private readonly revocations: RevocationList,
    private readonly presence: Pick<PresenceMarks, 'mark'>,
    private readonly cache?: DeviceBindingCache,
    private readonly bindings?: IdentityBindings,
  ) {
    if (cache)
      onDeviceBindingChange(models.devices.db, async (udid) => {
        await (udid === undefined ? cache.invalidateAll() : cache.invalidateDevice(udid));
      });
  }

  /**
   * Marks the device as seen (PresenceMarks; the work role writes mdm_presence). A command request whose binding
   * came from the cache was marked by the cache's lookup already.
   */
  async touch(deviceId: string): Promise<void> {
    await this.presence.mark(deviceId);
  }

  async verifySignature(header: string | undefined, body: Buffer): Promise<VerifiedSigner> {
    if (!header) throw new ProblemError(400, 'Bad request', 'missing Mdm-Signature header');
    try {
      return verifyDetachedSignature(header, body, { caCertPem: await this.caCertPem() });
    } catch (error) {
      if (error instanceof CmsVerificationError) {
        const status =
          error.reason === 'malformed' || error.reason === 'too-large' || error.reason === 'unsupported' ? 400 : 403;
        throw new ProblemError(
          status,
          status === 400 ? 'Bad request' : 'Forbidden',
          `Mdm-Signature rejected: ${error.reason}`,
        );
      }
      throw error;
    }
  }

  /** The recorded certificate of a verified signer (insert-only records: never changes once found). */
  async certificateOf(signer: VerifiedSigner): Promise<CertificateDoc | null> {
    return this.models.certificates.findOne({ fingerprint: signer.fingerprintSha256 }).lean<CertificateDoc>();
  }

  /** Refuses a revoked identity (403). */
  async refuseRevoked(certificate: Pick<CertificateDoc, '_id' | 'enrollmentId' | 'revokedAt'>): Promise<void> {
    const revoked =
      Boolean(certificate.revokedAt) ||
      (await this.revocations.isRevoked(
        revocationIds({ serial: certificate._id, enrollmentId: certificate.enrollmentId }),
      ));
    if (revoked) throw new ProblemError(403, 'Forbidden', 'this device identity has been revoked');
  }

  /** The binding this identity may speak for, read from the database; refuses foreign or revoked identities. */
  private async readBinding(udid: string, signer: VerifiedSigner): Promise<BoundCheckin> {
    const [certificate, device] = await Promise.all([
      this.certificateOf(signer),
      this.models.devices.findOne({ udid }).lean<DeviceDoc>(),
    ]);
    if (!certificate || !device?.enrollmentId || certificate.enrollmentId !== device.enrollmentId)
      throw new ProblemError(403, 'Forbidden', 'this identity certificate is not bound to that device');
    await this.refuseRevoked(certificate);
    return { device, certificate, enrollmentId: device.enrollmentId };
  }

  /** For check-ins (TokenUpdate, CheckOut): the bound device, touched as seen. */
  async boundDevice(udid: string, signer: VerifiedSigner): Promise<BoundCheckin> {
    const bound = await this.readBinding(udid, signer);
    await this.touch(String(bound.device._id));
    return bound;
  }

  /**
   * The same decision for the command endpoint, read through the binding cache: a device answering commands
   * sends one request per command, and only the first of a burst reads the database. The revocation check
   * rides in the cache's round trip; without a usable mirror it goes to the database.
   */
  async deviceForCommands(udid: string, signer: VerifiedSigner): Promise<BoundDevice> {
    const fingerprint = signer.fingerprintSha256;
    const cached = this.cache ? await this.cache.lookup(fingerprint, udid) : { generations: undefined };
    if ('device' in cached) {
      await this.refuseRevokedBinding(cached.device, cached.revoked);
      // The lookup marked the device as seen only when the revocation mirror vouched for it.
      if (cached.revoked === undefined) await this.touch(cached.device.id);
      return cached.device;
    }
    const device = (await this.provenBinding(udid, signer)) ?? (await this.proveBinding(udid, signer));
    device.generations = cached.generations;
    await this.cache?.store(fingerprint, device);
    return device;
  }

  private async refuseRevokedBinding(device: Pick<BoundDevice, 'serial' | 'enrollmentId'>, revoked?: boolean) {
    const refused =
      revoked ??
      (await this.revocations.isRevoked(revocationIds({ serial: device.serial, enrollmentId: device.enrollmentId })));
    if (refused) throw new ProblemError(403, 'Forbidden', 'this device identity has been revoked');
  }

  /**
   * A cache miss for an identity whose binding was proved before: one read by `_id` (mdm_identity_bindings),
   * the revocation check, then the reported inventory (by `_id`) and the presence touch.
   */
  private async provenBinding(udid: string, signer: VerifiedSigner): Promise<BoundDevice | undefined> {
    const binding = await this.bindings?.get(signer.fingerprintSha256);
    if (!binding || binding.udid !== udid) return undefined;
    await this.refuseRevokedBinding(binding);
    return this.withReported(
      { id: binding.deviceId, udid, enrollmentId: binding.enrollmentId, serial: binding.serial, reported: {} },
      binding.reported,
    );
  }

  /** The first miss of an identity: proved from the device binding and the certificate, then remembered. */
  private async proveBinding(udid: string, signer: VerifiedSigner): Promise<BoundDevice> {
    const { device: doc, certificate, enrollmentId } = await this.readBinding(udid, signer);
    await this.rememberProof(signer.fingerprintSha256, doc, certificate, enrollmentId);
    return this.withReported(
      { id: String(doc._id), udid: doc.udid, enrollmentId, serial: certificate._id, reported: {} },
      reportedOf(doc),
    );
  }

  /**
   * Remembers that this identity signs for this device (insert-only, keyed by the certificate's fingerprint).
   * Authenticate calls it when it binds the device, so a later request, even one refused for its body, finds the
   * proof there and writes nothing; the command path's first miss calls it for identities bound before.
   */
  async rememberProof(
    fingerprintSha256: string,
    doc: DeviceDoc,
    certificate: Pick<CertificateDoc, '_id'>,
    enrollmentId: string,
  ): Promise<void> {
    await this.bindings?.remember({
      _id: fingerprintSha256,
      deviceId: String(doc._id),
      udid: doc.udid,
      enrollmentId,
      serial: certificate._id,
      reported: reportedOf(doc),
      at: new Date(),
    });
  }

  /** Adds what the device last reported (its DeviceInformation record over Authenticate's), touching presence. */
  private async withReported(device: BoundDevice, authenticated: ReportedDeviceInfo): Promise<BoundDevice> {
    const [info] = await Promise.all([
      this.models.inventory.findById(`${device.id}:info`).lean<InventoryDoc>(),
      this.touch(device.id),
    ]);
    device.reported = reportedOf({
      ...authenticated,
      ...(info?.enrollmentId === device.enrollmentId ? info.info : {}),
    });
    return device;
  }

  /** After the device's self-description was written: later requests of the burst compare against it. */
  async rememberReported(signer: VerifiedSigner, device: BoundDevice): Promise<void> {
    await this.cache?.replace(signer.fingerprintSha256, device);
  }
}

/** The reported fields of a record (Authenticate's device fields, or a DeviceInformation record). */
function reportedOf(source: Partial<Record<keyof ReportedDeviceInfo, unknown>>): ReportedDeviceInfo {
  return Object.fromEntries(
    REPORTED_FIELDS.flatMap((field) => (typeof source[field] === 'string' ? [[field, source[field]]] : [])),
  );
}
