import type { EventPublisher } from 'enrollment-gateway/sdk';
import { ProblemError } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import type { VerifiedSigner } from '../pki/index.js';
import type { AuthenticateMessage, CheckinMessage, CheckOutMessage, TokenUpdateMessage } from '../protocol/index.js';
import {
  type CertificateDoc,
  claimOnce,
  DEVICE_SECRET_FIELDS,
  type DeviceDoc,
  type EnrollmentDoc,
  MANAGED_DEVICE_STATES,
  type MdmModels,
} from '../storage/models.js';
import type { CommandService } from './command-service.js';
import type { DeviceIdentityVerifier } from './device-identity.js';
import type { DeviceSecrets } from './device-secrets.js';

/** Handles check-in messages after their signature was verified. */
export class CheckinService {
  constructor(
    private readonly models: MdmModels,
    private readonly identity: DeviceIdentityVerifier,
    private readonly commands: Pick<CommandService, 'clearQueue'>,
    private readonly events: EventPublisher,
    private readonly secrets: DeviceSecrets,
    private readonly logger: Logger,
  ) {}

  async handle(message: CheckinMessage, signer: VerifiedSigner): Promise<void> {
    switch (message.messageType) {
      case 'Authenticate':
        return this.authenticate(message, signer);
      case 'TokenUpdate':
        return this.tokenUpdate(message, signer);
      case 'CheckOut':
        return this.checkOut(message, signer);
      case 'UserAuthenticate':
        // Personal iPhones and iPads have no user channel; 410 tells the device not to ask again.
        throw new ProblemError(410, 'Gone', 'user channel authentication is not supported');
      default:
        throw new ProblemError(400, 'Bad request', `unsupported check-in MessageType "${message.unknownMessageType}"`);
    }
  }

  private requireUdid(message: { udid?: string }): string {
    if (!message.udid) throw new ProblemError(400, 'Bad request', 'User Enrollment is not supported: UDID is required');
    return message.udid;
  }

  /** Binds the identity certificate (by its SHA-256) to the UDID and starts the device afresh. */
  private async authenticate(message: AuthenticateMessage, signer: VerifiedSigner): Promise<void> {
    const udid = this.requireUdid(message);
    const certificate = (await this.models.certificates
      .findOne({ fingerprint: signer.fingerprintSha256 })
      .lean()) as CertificateDoc | null;
    if (!certificate || certificate.revokedAt) {
      throw new ProblemError(
        403,
        'Forbidden',
        certificate ? 'this identity certificate was revoked' : 'unknown identity certificate',
      );
    }
    if (certificate.udid && certificate.udid !== udid) {
      throw new ProblemError(403, 'Forbidden', 'this identity certificate belongs to another device');
    }
    const enrollment = certificate.enrollmentId
      ? ((await this.models.enrollments.findById(certificate.enrollmentId).lean()) as EnrollmentDoc | null)
      : null;
    if (!enrollment || !['certificate-issued', 'enrolled'].includes(enrollment.state)) {
      throw new ProblemError(403, 'Forbidden', 'no enrollment session is waiting for this identity');
    }
    const existing = (await this.models.devices
      .findOne({ udid }, { state: 1, userId: 1, identityRevoked: 1 })
      .lean()) as Pick<DeviceDoc, 'state' | 'userId' | 'identityRevoked'> | null;
    // UDIDs are not secret: a managed device of another user cannot be taken over by naming its UDID.
    // It has to leave management first (CheckOut or retirement).
    if (
      existing &&
      MANAGED_DEVICE_STATES.includes(existing.state) &&
      !existing.identityRevoked &&
      existing.userId !== enrollment.userId
    ) {
      throw new ProblemError(403, 'Forbidden', 'this device is managed for another user');
    }
    const now = new Date();
    const device = await this.models.devices.findOneAndUpdate(
      { udid },
      {
        $set: {
          state: 'pending',
          userId: enrollment.userId,
          enrollmentId: enrollment._id,
          identityFingerprints: [signer.fingerprintSha256],
          identityRevoked: false,
          topic: message.topic,
          osVersion: message.osVersion,
          buildVersion: message.buildVersion,
          productName: message.productName,
          serialNumber: message.serialNumber,
          deviceName: message.deviceName,
          model: message.model,
          authenticatedAt: now,
          lastSeenAt: now,
          managedApps: [],
          installedProfiles: [],
        },
        $unset: {
          ...Object.fromEntries(DEVICE_SECRET_FIELDS.map((field) => [field, ''])),
          checkedOutAt: '',
          enrolledAt: '',
          retiredAt: '',
        },
      },
      { upsert: true, returnDocument: 'after' },
    );
    const deviceId = String(device!._id);
    // A new enrollment starts clean: the earlier enrollment's data key goes with its secrets.
    await this.secrets.forgetKey(deviceId);
    await this.models.certificates.updateOne({ _id: certificate._id }, { $set: { udid, deviceId } });
    // Identities of an earlier enrollment of this device must not sign (or renew) again.
    await this.models.certificates.updateMany(
      { deviceId, _id: { $ne: certificate._id }, revokedAt: { $exists: false } },
      { $set: { revokedAt: now, revocationReason: 'superseded by a new enrollment' } },
    );
    // A fresh Authenticate means a new enrollment: commands queued for the previous one are stale.
    const stale = await this.commands.clearQueue(deviceId);
    this.logger.info({ deviceId, udid, enrollmentId: enrollment._id, staleCommands: stale }, 'device authenticated');
  }

  private async tokenUpdate(message: TokenUpdateMessage, signer: VerifiedSigner): Promise<void> {
    const udid = this.requireUdid(message);
    if (message.channel === 'user') throw new ProblemError(410, 'Gone', 'user channel is not supported');
    const device = await this.identity.boundDevice(udid, signer);
    const deviceId = String(device._id);
    const set: Record<string, unknown> = {
      ...(await this.secrets.encrypt(deviceId, device.enrollmentId ?? 'none', {
        pushToken: message.token,
        pushMagic: message.pushMagic,
        unlockToken: message.unlockToken,
      })),
      topic: message.topic,
    };
    // The first TokenUpdate after an Authenticate completes the enrollment, once, even if two arrive at once.
    const enrolled =
      device.state === 'pending' &&
      (await claimOnce(this.models, `enrolled:${deviceId}:${new Date(device.authenticatedAt ?? 0).getTime()}`));
    if (enrolled) Object.assign(set, { state: 'enrolled', enrolledAt: new Date() });
    await this.models.devices.updateOne({ _id: device._id }, { $set: set, $unset: { pushTokenInvalid: '' } });
    if (enrolled) {
      await this.models.enrollments.updateOne({ _id: device.enrollmentId }, { $set: { state: 'enrolled', deviceId } });
      this.logger.info({ deviceId, udid }, 'device enrolled');
      await this.events.emit('device.enrolled', {
        deviceId,
        udid,
        userId: device.userId,
        enrollmentId: device.enrollmentId,
      });
    } else {
      await this.events.emit('device.tokenUpdated', { deviceId, udid });
    }
  }

  private async checkOut(message: CheckOutMessage, signer: VerifiedSigner): Promise<void> {
    const udid = this.requireUdid(message);
    const device = await this.identity.boundDevice(udid, signer);
    await this.models.devices.updateOne(
      { _id: device._id },
      { $set: { state: 'checked-out', checkedOutAt: new Date() } },
    );
    // The device removed its management profile: nothing queued can reach it any more.
    await this.commands.clearQueue(String(device._id));
    this.logger.info({ deviceId: String(device._id), udid }, 'device checked out');
    await this.events.emit('device.checkedOut', { deviceId: String(device._id), udid });
  }
}
