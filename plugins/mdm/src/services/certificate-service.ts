import type { Logger } from 'pino';
import type { CertificateDoc, MdmModels } from '../storage/models.js';

/** The record of every issued device identity, and its revocation. */
export class CertificateService {
  constructor(
    private readonly models: MdmModels,
    private readonly logger: Logger,
  ) {}

  /**
   * Revokes one certificate. A device signing with it is refused from then on: the device record
   * is flagged in the same step, because check-ins authenticate against the device record alone.
   */
  async revoke(serial: string, reason: string): Promise<CertificateDoc | undefined> {
    const certificate = (await this.models.certificates
      .findOneAndUpdate(
        { _id: serial },
        { $set: { revokedAt: new Date(), revocationReason: reason } },
        { returnDocument: 'after' },
      )
      .lean()) as CertificateDoc | null;
    if (!certificate) return undefined;
    await this.models.devices.updateMany(
      { identityFingerprints: certificate.fingerprint },
      { $pull: { identityFingerprints: certificate.fingerprint } },
    );
    await this.models.devices.updateMany(
      { identityFingerprints: { $size: 0 }, udid: certificate.udid ?? '' },
      { $set: { identityRevoked: true } },
    );
    this.logger.info({ serial, reason, deviceId: certificate.deviceId }, 'revoked device identity certificate');
    return certificate;
  }

  /** Revokes every unrevoked certificate of a device (unenrollment). */
  async revokeAllForDevice(deviceId: string, reason: string): Promise<number> {
    const certificates = await this.models.certificates
      .find({ deviceId, revokedAt: { $exists: false } }, { _id: 1 })
      .lean();
    for (const { _id } of certificates) await this.revoke(_id, reason);
    await this.models.devices.updateOne(
      { _id: deviceId },
      { $set: { identityRevoked: true, identityFingerprints: [] } },
    );
    return certificates.length;
  }
}
