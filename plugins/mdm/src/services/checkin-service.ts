import { createHash } from 'node:crypto';
import type { CheckinMessageHandler, DeviceCheckinReply, EventPublisher } from 'enrollment-gateway/sdk';
import { ProblemError } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import type { VerifiedSigner } from '../pki/index.js';
import type {
  AuthenticateMessage,
  CheckinMessage,
  CheckOutMessage,
  TokenUpdateMessage,
  UnknownCheckinMessage,
} from '../protocol/index.js';
import { type FactDoc, type FactKind, factId } from '../storage/device-records.js';
import { type DeviceViews, stateOf } from '../storage/device-views.js';
import {
  type CertificateDoc,
  type DeviceDoc,
  type EnrollmentDoc,
  insertOnce,
  LEGACY_DEVICE_FIELDS,
  MANAGED_DEVICE_STATES,
  type MdmModels,
} from '../storage/models.js';
import { raiseEnrollmentStep } from './attempt-steps.js';
import type { CommandService } from './command-service.js';
import { crashPoint } from './crash-points.js';
import type { BoundCheckin, DeviceIdentityVerifier } from './device-identity.js';
import type { DeviceSecrets } from './device-secrets.js';
import type { RevocationList } from './revocation-list.js';

/** Platform and OS version an Authenticate reports, for the attempt's step. */
function deviceOf(message: AuthenticateMessage): { platform?: string; osVersion?: string } {
  const product = message.productName ?? message.model ?? '';
  const platform = product.startsWith('iPad') ? 'iPadOS' : product.startsWith('iPhone') ? 'iOS' : undefined;
  return { ...(platform ? { platform } : {}), ...(message.osVersion ? { osVersion: message.osVersion } : {}) };
}

/** Handles check-in messages after their signature was verified. */
export class CheckinService {
  constructor(
    private readonly models: MdmModels,
    private readonly views: DeviceViews,
    private readonly identity: DeviceIdentityVerifier,
    private readonly revocations: RevocationList,
    private readonly commands: Pick<CommandService, 'clearQueue'>,
    private readonly events: EventPublisher,
    private readonly secrets: DeviceSecrets,
    private readonly logger: Logger,
    /** Handlers other plugins contribute for message types mdm does not handle itself (checkinMessageHandlersPoint). */
    private readonly contributed: () => readonly CheckinMessageHandler[] = () => [],
  ) {}

  /** Answers nothing (an empty 200) except for a contributed message type, whose handler's reply is sent. */
  async handle(message: CheckinMessage, signer: VerifiedSigner): Promise<DeviceCheckinReply | undefined> {
    switch (message.messageType) {
      case 'Authenticate':
        await this.authenticate(message, signer);
        return undefined;
      case 'TokenUpdate':
        await this.tokenUpdate(message, signer);
        return undefined;
      case 'CheckOut':
        await this.checkOut(message, signer);
        return undefined;
      case 'UserAuthenticate':
        // Personal iPhones and iPads have no user channel; 410 tells the device not to ask again.
        throw new ProblemError(410, 'Gone', 'user channel authentication is not supported');
      default:
        return this.handOver(message, signer);
    }
  }

  /** The key the device is stored under: its UDID, or for a User Enrollment its EnrollmentID (the parser's deviceId). */
  private storageKeyOf(message: { deviceId: string }): string {
    return message.deviceId;
  }

  /** Whether a plugin contributed a handler for this MessageType. */
  handledElsewhere(type: string): boolean {
    return this.contributed().some((h) => h.messageTypes.includes(type));
  }

  /** A message type a plugin handles: the device is verified here, as for every check-in, then handed over. */
  private async handOver(message: UnknownCheckinMessage, signer: VerifiedSigner): Promise<DeviceCheckinReply> {
    const type = message.unknownMessageType;
    const handler = this.contributed().find((h) => h.messageTypes.includes(type));
    if (!handler) throw new ProblemError(400, 'Bad request', `unsupported check-in MessageType "${type}"`);
    // A User Enrollment names itself by EnrollmentID, the key its device is stored under.
    const udid = message.plist.UDID ?? message.plist.EnrollmentID;
    if (typeof udid !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(udid))
      throw new ProblemError(400, 'Bad request', `invalid ${type}: UDID or EnrollmentID is required`);
    // The binding cache's path: a handed-over type (DDM) comes in bursts, like command polling.
    const device = await this.identity.deviceForCommands(udid, signer);
    return handler.handle({
      messageType: type,
      deviceId: device.id,
      udid,
      enrollmentId: device.enrollmentId,
      message: message.plist,
      raw: message.raw,
    });
  }

  /** The session this identity was issued for, if it may still authenticate (certificate issued, not cancelled). */
  private async waitingEnrollment(
    enrollmentId: string | undefined,
  ): Promise<{ enrollment: EnrollmentDoc; facts: Map<FactKind, FactDoc> }> {
    const enrollment = enrollmentId ? await this.models.enrollments.findById(enrollmentId).lean<EnrollmentDoc>() : null;
    const facts = enrollment ? await this.views.factsOf(enrollment._id) : new Map<FactKind, FactDoc>();
    const issued =
      facts.has('certificate-issued') || ['certificate-issued', 'enrolled'].includes(enrollment?.state ?? '');
    if (!enrollment || !issued || facts.has('cancelled') || enrollment.state === 'cancelled')
      throw new ProblemError(403, 'Forbidden', 'no enrollment session is waiting for this identity');
    return { enrollment, facts };
  }

  /**
   * Binds the UDID to this identity's enrollment. Writes, each safe to repeat (the device sends Authenticate
   * again when it got no answer): revoke the superseded enrollment, write the binding, record the
   * 'authenticated' fact, forget the earlier enrollment's secrets and queue.
   */
  private async authenticate(message: AuthenticateMessage, signer: VerifiedSigner): Promise<void> {
    const udid = this.storageKeyOf(message);
    const certificate = await this.identity.certificateOf(signer);
    if (!certificate) throw new ProblemError(403, 'Forbidden', 'unknown identity certificate');
    try {
      await this.bindIdentity(message, udid, certificate);
    } catch (error) {
      // The attempt stops here: an identity of a known session was refused.
      if (ProblemError.is(error) && error.status === 403 && certificate.enrollmentId) {
        await raiseEnrollmentStep(this.events, this.logger, {
          step: 'authenticated',
          outcome: 'failed',
          reason: 'identity-refused',
          detail: error.detail,
          enrollmentId: certificate.enrollmentId,
          ...deviceOf(message),
        });
      }
      throw error;
    }
  }

  private async bindIdentity(message: AuthenticateMessage, udid: string, certificate: CertificateDoc): Promise<void> {
    await this.identity.refuseRevoked(certificate);
    const { enrollment, facts } = await this.waitingEnrollment(certificate.enrollmentId);
    // A User Enrollment session is completed by a device naming itself by EnrollmentID, any other by its UDID.
    const userEnrollment = enrollment.accountDriven?.mode === 'BYOD';
    if (userEnrollment !== (message.udid === undefined)) {
      throw new ProblemError(
        403,
        'Forbidden',
        userEnrollment ? 'this User Enrollment expects an EnrollmentID, not a UDID' : 'this enrollment expects a UDID',
      );
    }
    // An enrollment binds one device: its identity cannot authenticate another UDID.
    const boundUdid = facts.get('authenticated')?.udid ?? certificate.udid;
    if (boundUdid && boundUdid !== udid) {
      throw new ProblemError(403, 'Forbidden', 'this identity certificate belongs to another device');
    }
    const existing = await this.views.byUdid(udid);
    const previous = existing?.binding.enrollmentId;
    // UDIDs are not secret: a managed device of another user cannot be taken over by naming its UDID.
    // It has to leave management first (CheckOut or retirement).
    if (
      existing &&
      previous !== enrollment._id &&
      MANAGED_DEVICE_STATES.includes(existing.state) &&
      existing.binding.userId !== enrollment.userId &&
      !(await this.revocations.isRevoked([`enrollment:${previous}`]))
    ) {
      throw new ProblemError(403, 'Forbidden', 'this device is managed for another user');
    }
    // Identities of the earlier enrollment must not sign (or renew) again: revoked before the binding moves.
    if (previous && previous !== enrollment._id)
      await this.revocations.revoke({ enrollmentId: previous }, 'superseded by a new enrollment');
    await crashPoint('authenticate:after-supersede');
    const now = new Date();
    const device = await this.models.devices
      .findOneAndUpdate(
        { udid },
        {
          $set: {
            userId: enrollment.userId,
            enrollmentId: enrollment._id,
            topic: message.topic,
            osVersion: message.osVersion,
            buildVersion: message.buildVersion,
            productName: message.productName,
            serialNumber: message.serialNumber,
            deviceName: message.deviceName,
            model: message.model,
            userEnrollment,
            authenticatedAt: now,
          },
          // Fields of the record before the one-writer split (migrated at start) go with the first write.
          $unset: Object.fromEntries(LEGACY_DEVICE_FIELDS.map((field) => [field, ''])),
        },
        { upsert: true, returnDocument: 'after', strict: false },
      )
      .lean<DeviceDoc>();
    const deviceId = String(device!._id);
    await this.identity.rememberProof(certificate.fingerprint, device!, certificate, enrollment._id);
    await crashPoint('authenticate:after-binding');
    await insertOnce<FactDoc>(this.models.facts, {
      _id: factId(enrollment._id, 'authenticated'),
      enrollmentId: enrollment._id,
      kind: 'authenticated',
      at: now,
      deviceId,
      udid,
      userId: enrollment.userId,
    });
    await this.identity.touch(deviceId);
    await raiseEnrollmentStep(this.events, this.logger, {
      step: 'authenticated',
      outcome: 'passed',
      enrollmentId: enrollment._id,
      userId: enrollment.userId,
      deviceId,
      ...(enrollment.profileId ? { profileId: enrollment.profileId } : {}),
      ...deviceOf(message),
    });
    if (previous === enrollment._id) return;
    await crashPoint('authenticate:after-fact');
    // A new enrollment starts clean: the earlier enrollment's data key goes with its secrets, and commands
    // queued for it are stale.
    await this.secrets.forgetOtherEnrollments(deviceId, enrollment._id);
    const stale = await this.commands.clearQueue(deviceId);
    this.logger.info({ deviceId, udid, enrollmentId: enrollment._id, staleCommands: stale }, 'device authenticated');
  }

  private async tokenUpdate(message: TokenUpdateMessage, signer: VerifiedSigner): Promise<void> {
    const udid = this.storageKeyOf(message);
    if (message.channel === 'user') throw new ProblemError(410, 'Gone', 'user channel is not supported');
    const bound = await this.identity.boundDevice(udid, signer);
    const deviceId = String(bound.device._id);
    await this.secrets.storePushCredentials(deviceId, bound.enrollmentId, message.topic, {
      pushToken: message.token,
      pushMagic: message.pushMagic,
      unlockToken: message.unlockToken,
    });
    await crashPoint('token-update:after-credentials');
    // The first TokenUpdate after Authenticate completes the enrollment; a device being retired (or gone) does not.
    if (stateOf(await this.views.factsOf(bound.enrollmentId)) === 'pending') {
      await this.completeEnrollment(bound, deviceId, udid);
      return;
    }
    // One event per token the device reports: a resent TokenUpdate is the same fact.
    const token = createHash('sha256').update(`${message.token}|${message.pushMagic}`).digest('hex');
    await this.events.emit(
      'device.tokenUpdated',
      { deviceId, udid },
      { eventId: `device.tokenUpdated:${deviceId}:${token.slice(0, 32)}` },
    );
  }

  /**
   * The one place device.enrolled is emitted. Recording "device.enrolled:<enrollmentId>" (a unique insert in the
   * core outbox) is the once-only claim; the 'enrolled' fact is written by `apply`, which runs on every try, so a
   * TokenUpdate the device resends after a crash between the two completes the enrollment the first one claimed.
   * A crash after both but before delivery is repaired by the outbox sweep: the effect happens once either way.
   */
  private async completeEnrollment(bound: BoundCheckin, deviceId: string, udid: string): Promise<void> {
    const { recorded } = await this.events.emit(
      'device.enrolled',
      { deviceId, udid, userId: bound.device.userId, enrollmentId: bound.enrollmentId },
      {
        eventId: `device.enrolled:${bound.enrollmentId}`,
        apply: async () => {
          await crashPoint('token-update:after-record');
          await insertOnce<FactDoc>(this.models.facts, {
            _id: factId(bound.enrollmentId, 'enrolled'),
            enrollmentId: bound.enrollmentId,
            kind: 'enrolled',
            at: new Date(),
            deviceId,
            udid,
            userId: bound.device.userId,
          });
          await crashPoint('token-update:after-enrolled');
        },
      },
    );
    if (recorded) this.logger.info({ deviceId, udid }, 'device enrolled');
  }

  /** The device removed its management profile: its identity is revoked first, then the fact recorded. */
  private async checkOut(message: CheckOutMessage, signer: VerifiedSigner): Promise<void> {
    const udid = this.storageKeyOf(message);
    const bound = await this.identity.boundDevice(udid, signer);
    const deviceId = String(bound.device._id);
    // Recorded before the writes, which run again on a CheckOut the device resends: no crash loses the event.
    const { recorded } = await this.events.emit(
      'device.checkedOut',
      { deviceId, udid },
      {
        eventId: `device.checkedOut:${bound.enrollmentId}`,
        apply: async () => {
          await this.revocations.revoke({ enrollmentId: bound.enrollmentId }, 'checked out');
          await insertOnce<FactDoc>(this.models.facts, {
            _id: factId(bound.enrollmentId, 'checked-out'),
            enrollmentId: bound.enrollmentId,
            kind: 'checked-out',
            at: new Date(),
            deviceId,
          });
          // Nothing queued can reach it any more.
          await this.commands.clearQueue(deviceId);
        },
      },
    );
    if (recorded) this.logger.info({ deviceId, udid }, 'device checked out');
  }
}
