import { ProblemError } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import {
  buildCertRep,
  certificateFingerprintSha256,
  issueDeviceCertificate,
  parsePkiMessage,
  randomSerialHex,
  type ScepEnrollmentRequest,
  ScepError,
} from '../pki/index.js';
import type { CertificateDoc, DeviceDoc, MdmModels } from '../storage/models.js';
import type { EnrollmentService } from './enrollment-service.js';
import type { PkiService } from './pki-service.js';

/** A device being retired (or gone) renews nothing: its identity is about to be revoked. */
const RENEWABLE_STATES: DeviceDoc['state'][] = ['pending', 'enrolled'];

/**
 * SCEP PKIOperation: PKCSReq against a one-time challenge of a downloaded enrollment session, and
 * RenewalReq signed by a current, unrevoked device identity (the device keeps its binding).
 * Refusals are HTTP 4xx with a reason and store nothing.
 */
export class ScepService {
  constructor(
    private readonly models: MdmModels,
    private readonly pki: PkiService,
    private readonly enrollments: EnrollmentService,
    private readonly validityDays: number,
    private readonly logger: Logger,
  ) {}

  async pkiOperation(der: Buffer): Promise<Buffer> {
    const { ca } = await this.pki.get();
    let request: ReturnType<typeof parsePkiMessage>;
    try {
      request = parsePkiMessage(der, ca);
    } catch (error) {
      if (error instanceof ScepError)
        throw new ProblemError(400, 'Bad request', `SCEP message rejected: ${error.reason}`);
      throw error;
    }
    if (request.messageType === 'CertPoll')
      throw new ProblemError(400, 'Bad request', 'nothing is pending: certificates are issued at once');
    const issued = request.messageType === 'PKCSReq' ? await this.enroll(request) : await this.renew(request);
    return buildCertRep({ request, ca, issuedCertDer: issued });
  }

  private async enroll(request: ScepEnrollmentRequest): Promise<Buffer> {
    if (!request.challengePassword) throw new ProblemError(403, 'Forbidden', 'a challenge password is required');
    // Issue first (it can fail on a bad CSR) and use the challenge up only then; an unrecorded
    // certificate is worthless, because check-ins accept only recorded ones.
    const { ca } = await this.pki.get();
    const certificate = issueDeviceCertificate(ca, {
      csrDer: request.csrDer,
      validityDays: this.validityDays,
      serial: randomSerialHex(),
    });
    const session = await this.enrollments.consumeChallenge(request.challengePassword, certificate.serialHex);
    if (!session)
      throw new ProblemError(403, 'Forbidden', 'the challenge is invalid, already used, or its session expired');
    await this.models.certificates.create({
      _id: certificate.serialHex,
      fingerprint: certificate.fingerprintSha256,
      subject: request.csrSubjectString,
      enrollmentId: session._id,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
    });
    this.logger.info(
      { enrollmentId: session._id, serial: certificate.serialHex },
      'issued device identity certificate',
    );
    return certificate.certDer;
  }

  private async renew(request: ScepEnrollmentRequest): Promise<Buffer> {
    const previousFingerprint = certificateFingerprintSha256(request.signerCertDer);
    const previous = (await this.models.certificates
      .findOne({ fingerprint: previousFingerprint })
      .lean()) as CertificateDoc | null;
    if (!previous || previous.revokedAt || !previous.deviceId || previous.notAfter <= new Date()) {
      throw new ProblemError(403, 'Forbidden', 'renewal must be signed by a current, unexpired device identity');
    }
    // The signer must be an identity the device uses now, not one of an earlier enrollment.
    const device = await this.models.devices
      .findOne(
        { _id: previous.deviceId, identityRevoked: false, identityFingerprints: previousFingerprint },
        { state: 1 },
      )
      .lean();
    if (!device || !RENEWABLE_STATES.includes(device.state))
      throw new ProblemError(403, 'Forbidden', 'this identity is not current for a managed device');
    const { ca } = await this.pki.get();
    const certificate = issueDeviceCertificate(ca, { csrDer: request.csrDer, validityDays: this.validityDays });
    await this.models.certificates.create({
      _id: certificate.serialHex,
      fingerprint: certificate.fingerprintSha256,
      subject: request.csrSubjectString,
      enrollmentId: previous.enrollmentId,
      udid: previous.udid,
      deviceId: previous.deviceId,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      renewedFrom: previous._id,
    });
    // The device signs with the old identity until the new profile is installed, then with the new one.
    await this.models.devices.updateOne(
      { _id: previous.deviceId, identityRevoked: false, state: { $in: RENEWABLE_STATES } },
      { $set: { identityFingerprints: [previousFingerprint, certificate.fingerprintSha256] } },
    );
    // Retirement may have started since the check above: it revokes what it finds, and looks again until it
    // finds nothing; this re-read after recording is the other half, so a renewal never outlives a retirement.
    const after = await this.models.devices
      .findOne({ _id: previous.deviceId }, { state: 1, identityRevoked: 1, enrollmentId: 1 })
      .lean<Pick<DeviceDoc, 'state' | 'identityRevoked' | 'enrollmentId'>>();
    if (
      !after ||
      after.identityRevoked ||
      !RENEWABLE_STATES.includes(after.state) ||
      after.enrollmentId !== previous.enrollmentId
    ) {
      await this.models.certificates.updateOne(
        { _id: certificate.serialHex },
        { $set: { revokedAt: new Date(), revocationReason: 'the device was retired during renewal' } },
      );
      await this.models.devices.updateOne(
        { _id: previous.deviceId },
        { $pull: { identityFingerprints: certificate.fingerprintSha256 } },
      );
      throw new ProblemError(403, 'Forbidden', 'this device is being retired');
    }
    this.logger.info(
      { deviceId: previous.deviceId, serial: certificate.serialHex },
      'renewed device identity certificate',
    );
    return certificate.certDer;
  }
}
