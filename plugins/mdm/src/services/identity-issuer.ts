import {
  type DeviceIdentityIssuer,
  DeviceIdentityRefusedError,
  type DeviceIdentityRequest,
  type EventPublisher,
  type IdentityPayloadDelivery,
  type IssuedDeviceIdentity,
} from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { issueIdentityCertificate } from '../pki/identity-certificates.js';
import {
  CertificateIssueError,
  type IssuedCertificate,
  PkiFormatError,
  randomSerialHex,
  summarizeCertificate,
} from '../pki/index.js';
import { type FactDoc, factId } from '../storage/device-records.js';
import { type DeviceViews, stateOf } from '../storage/device-views.js';
import { type DeviceState, type EnrollmentDoc, insertOnce, type MdmModels } from '../storage/models.js';
import { raiseEnrollmentStep } from './attempt-steps.js';
import type { CertificateService } from './certificate-service.js';
import type { CommandService } from './command-service.js';
import { type EnrollmentService, sessionState } from './enrollment-service.js';
import type { PkiService } from './pki-service.js';
import type { RevocationList } from './revocation-list.js';

const RENEWABLE_STATES: DeviceState[] = ['pending', 'enrolled'];

/**
 * Issues device identities for other plugins (ACME) through the SDK, recorded in mdm_certificates like SCEP's: the
 * first identity of an enrollment is claimed by the same 'certificate-issued' fact a SCEP challenge uses, so one
 * enrollment never gets two first identities whichever way they were asked for.
 */
export class IdentityIssuer implements DeviceIdentityIssuer {
  constructor(
    private readonly deps: {
      models: MdmModels;
      views: DeviceViews;
      pki: PkiService;
      revocations: RevocationList;
      certificates: CertificateService;
      enrollments: EnrollmentService;
      commands: CommandService;
    },
    private readonly validityDays: number,
    private readonly logger: Logger,
    /** Raises the attempt's identity step (since the enrollment funnel). */
    private readonly events?: EventPublisher,
  ) {}

  async issue(request: DeviceIdentityRequest): Promise<IssuedDeviceIdentity> {
    const { models, views } = this.deps;
    const session = await models.enrollments.findById(request.enrollmentId).lean<EnrollmentDoc>();
    if (session && session.expiresAt <= new Date() && this.events)
      await raiseEnrollmentStep(this.events, this.logger, {
        step: 'identity-issued',
        outcome: 'failed',
        reason: 'challenge-refused',
        enrollmentId: session._id,
        userId: session.userId,
        method: 'acme',
      });
    if (!session || session.expiresAt <= new Date())
      throw new DeviceIdentityRefusedError('not-issuable', 'unknown or expired enrollment');
    if (sessionState(session, await views.factsOf(session._id)) !== 'downloaded')
      throw new DeviceIdentityRefusedError('not-issuable', 'the enrollment already has its identity, or was cancelled');
    // Certify first (a bad CSR fails here) and claim the enrollment's single first identity only then.
    const certificate = await this.certify(request.csrDer);
    const claimed = await insertOnce<FactDoc>(models.facts, {
      _id: factId(session._id, 'certificate-issued'),
      enrollmentId: session._id,
      kind: 'certificate-issued',
      at: new Date(),
      certificateSerial: certificate.serialHex,
    });
    if (!claimed) throw new DeviceIdentityRefusedError('not-issuable', 'the enrollment already has its identity');
    const issued = await this.record(request, certificate, undefined);
    if (this.events)
      await raiseEnrollmentStep(this.events, this.logger, {
        step: 'identity-issued',
        outcome: 'passed',
        enrollmentId: session._id,
        userId: session.userId,
        ...(session.profileId ? { profileId: session.profileId } : {}),
        method: 'acme',
      });
    return issued;
  }

  async renew(request: DeviceIdentityRequest): Promise<IssuedDeviceIdentity> {
    await this.renewable(request);
    const certificate = await this.certify(request.csrDer);
    const issued = await this.record(request, certificate, 'renewal');
    // A retirement that started meanwhile revokes the enrollment, and this certificate with it; refuse now too.
    await this.renewable(request);
    return issued;
  }

  async revoke(serial: string, reason: string): Promise<boolean> {
    return (await this.deps.certificates.revoke(serial, reason)) !== undefined;
  }

  /** Renewal of the MDM identity: InstallProfile with the enrollment profile rebuilt around the new payload. */
  async deliverIdentityPayload(delivery: IdentityPayloadDelivery): Promise<{ commandUuid: string; created: boolean }> {
    const device = await this.renewable({ enrollmentId: delivery.enrollmentId });
    if (String(device._id) !== delivery.deviceId)
      throw new DeviceIdentityRefusedError('not-issuable', 'the enrollment is not this device’s current one');
    const profile = await this.deps.enrollments.renewalProfile(delivery.enrollmentId, delivery.identityPayload);
    const command = { commandUuid: delivery.commandUuid, requestType: 'InstallProfile', origin: delivery.origin };
    // Built here: the enrollment profile carries com.apple.mdm, which enqueue's checks refuse from anyone else.
    const build = (commandUuid: string) => ({
      CommandUUID: commandUuid,
      Command: { RequestType: 'InstallProfile', Payload: profile },
    });
    const [queued] = await this.deps.commands.enqueue([delivery.deviceId], command, { build });
    if (!queued) throw new DeviceIdentityRefusedError('not-issuable', 'the device takes no commands');
    return { commandUuid: queued.commandUuid, created: queued.created };
  }

  private async renewable(request: Pick<DeviceIdentityRequest, 'enrollmentId' | 'udid'>) {
    const { models, views, revocations } = this.deps;
    const [device, revoked, facts] = await Promise.all([
      models.devices
        .findOne({ enrollmentId: request.enrollmentId }, { udid: 1 })
        .lean<{ _id: unknown; udid: string }>(),
      revocations.isRevoked([`enrollment:${request.enrollmentId}`]),
      views.factsOf(request.enrollmentId),
    ]);
    if (revoked || !device || !RENEWABLE_STATES.includes(stateOf(facts)))
      throw new DeviceIdentityRefusedError('not-issuable', 'this enrollment is not current for a managed device');
    if (request.udid && request.udid !== device.udid)
      throw new DeviceIdentityRefusedError('device-mismatch', 'the enrollment belongs to another device');
    return device;
  }

  private async certify(csrDer: Buffer): Promise<IssuedCertificate> {
    const { ca } = await this.deps.pki.get();
    try {
      return await issueIdentityCertificate(ca, {
        csrDer,
        validityDays: this.validityDays,
        serialHex: randomSerialHex(),
      });
    } catch (error) {
      if (error instanceof PkiFormatError || error instanceof CertificateIssueError)
        throw new DeviceIdentityRefusedError('bad-csr', error.message);
      throw error;
    }
  }

  private async record(
    request: DeviceIdentityRequest,
    certificate: IssuedCertificate,
    kind: 'renewal' | undefined,
  ): Promise<IssuedDeviceIdentity> {
    const { ca } = await this.deps.pki.get();
    await this.deps.models.certificates.create({
      _id: certificate.serialHex,
      fingerprint: certificate.fingerprintSha256,
      subject: summarizeCertificate(certificate.certDer).subject,
      enrollmentId: request.enrollmentId,
      udid: request.udid,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
    });
    this.logger.info(
      {
        enrollmentId: request.enrollmentId,
        serial: certificate.serialHex,
        via: request.via,
        renewal: kind === 'renewal',
      },
      'issued device identity certificate',
    );
    return {
      serial: certificate.serialHex,
      certificateDer: certificate.certDer,
      caCertificateDer: ca.certDer,
      notAfter: certificate.notAfter,
    };
  }
}
