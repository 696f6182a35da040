import { ProblemError } from 'enrollment-gateway/sdk';
import { CmsVerificationError, type VerifiedSigner, verifyDetachedSignature } from '../pki/index.js';
import { type DeviceDoc, type MdmModels, onDeviceBindingChange } from '../storage/models.js';
import { type BoundDevice, type DeviceBindingCache, REPORTED_FIELDS } from './device-binding-cache.js';

/** Only what deciding and touching needs, plus the self-description the command endpoint compares against. */
const bindingProjection = {
  udid: 1,
  state: 1,
  identityRevoked: 1,
  lastSeenAt: 1,
  ...Object.fromEntries(REPORTED_FIELDS.map((field) => [field, 1])),
};

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
    private readonly cache?: DeviceBindingCache,
  ) {
    if (cache) onDeviceBindingChange(models.devices.db, async () => void (await cache.invalidateAll()));
  }

  /**
   * lastSeenAt feeds the 90-day activity rule and the wake sweep, which need minutes, not
   * milliseconds, so it is written only when the stored value is over a minute old. The check uses
   * the document just read, so it needs no extra round trip and holds across replicas.
   */
  private async touch(device: Pick<DeviceDoc, '_id' | 'lastSeenAt'>): Promise<void> {
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
    refuseUnbound(device);
    await this.touch(device);
    return device;
  }

  /**
   * The same decision for the command endpoint, read through the binding cache: a device answering commands
   * sends one request per command, and only the first of a burst reads the database. That read also touches
   * lastSeenAt (one findAndModify instead of a read and a write): a miss happens at most once per cache
   * lifetime, so this writes no more often than the once-a-minute rule. Without the cache it is that rule.
   */
  async deviceForCommands(udid: string, signer: VerifiedSigner): Promise<BoundDevice> {
    const fingerprint = signer.fingerprintSha256;
    const cached = this.cache ? await this.cache.lookup(fingerprint, udid) : { generation: undefined };
    if ('device' in cached) return cached.device;
    const read = () =>
      this.models.devices
        .findOne({ udid, identityFingerprints: fingerprint }, bindingProjection)
        .lean<DeviceDoc>()
        .exec();
    let doc: DeviceDoc | null;
    if (cached.generation === undefined) {
      doc = await read();
      refuseUnbound(doc);
      await this.touch(doc);
    } else {
      const servable = { identityRevoked: { $ne: true }, state: { $nin: UNSERVED_STATES } };
      doc = await this.models.devices
        .findOneAndUpdate(
          { udid, identityFingerprints: fingerprint, ...servable },
          { $set: { lastSeenAt: new Date() } },
        )
        .lean<DeviceDoc>()
        .exec();
      // Refused: read again to say why (or to find it servable after all, if it changed meanwhile).
      doc ??= await read();
      refuseUnbound(doc);
    }
    const found = doc;
    const device: BoundDevice = {
      id: String(found._id),
      udid: found.udid,
      reported: Object.fromEntries(REPORTED_FIELDS.flatMap((f) => (found[f] === undefined ? [] : [[f, found[f]]]))),
      generation: cached.generation,
    };
    await this.cache?.store(fingerprint, device);
    return device;
  }

  /** After the device's self-description was written: later requests of the burst compare against it. */
  async rememberReported(signer: VerifiedSigner, device: BoundDevice): Promise<void> {
    await this.cache?.store(signer.fingerprintSha256, device);
  }
}

/** A device in these states has left management: its identity is refused. */
const UNSERVED_STATES: DeviceDoc['state'][] = ['retired', 'checked-out'];

function refuseUnbound(
  device: Pick<DeviceDoc, 'identityRevoked' | 'state'> | null,
): asserts device is NonNullable<typeof device> {
  if (!device) throw new ProblemError(403, 'Forbidden', 'this identity certificate is not bound to that device');
  if (device.identityRevoked || UNSERVED_STATES.includes(device.state)) {
    throw new ProblemError(403, 'Forbidden', 'this device identity has been revoked');
  }
}
