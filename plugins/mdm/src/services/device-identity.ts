import { ProblemError } from 'enrollment-gateway/sdk';
import { CmsVerificationError, type VerifiedSigner, verifyDetachedSignature } from '../pki/index.js';
import type { DeviceDoc, MdmModels } from '../storage/models.js';

/**
 * Cross-cutting device authentication (the decorator around check-in and command handling):
 * the Mdm-Signature must be a valid detached CMS over the exact body by a certificate of our CA
 * with ClientAuth, and the certificate must be bound to the device that claims it.
 * Devices never get 401 (it can make them unenroll): failures are 400 or 403.
 */
export class DeviceIdentityVerifier {
  constructor(
    private readonly models: MdmModels,
    private readonly caCertPem: () => Promise<string>,
  ) {}

  /**
   * lastSeenAt feeds the 90-day activity rule and the wake sweep, which need minutes, not
   * milliseconds, so it is written only when the stored value is over a minute old. The check uses
   * the document just read, so it needs no extra round trip and holds across replicas.
   */
  private async touch(device: DeviceDoc): Promise<void> {
    const now = Date.now();
    if (device.lastSeenAt && now - new Date(device.lastSeenAt).getTime() < 60_000) return;
    await this.models.devices.updateOne({ _id: device._id }, { $set: { lastSeenAt: new Date(now) } });
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

  /** The device record bound to this identity, touched as seen; refuses revoked or foreign identities. */
  async boundDevice(udid: string, signer: VerifiedSigner): Promise<DeviceDoc> {
    const device = (await this.models.devices
      .findOne(
        { udid, identityFingerprints: signer.fingerprintSha256 },
        { unlockTokenEncrypted: 0, managedApps: 0, installedProfiles: 0 },
      )
      .lean()) as DeviceDoc | null;
    if (!device) throw new ProblemError(403, 'Forbidden', 'this identity certificate is not bound to that device');
    if (device.identityRevoked || device.state === 'retired' || device.state === 'checked-out') {
      throw new ProblemError(403, 'Forbidden', 'this device identity has been revoked');
    }
    await this.touch(device);
    return device;
  }
}
