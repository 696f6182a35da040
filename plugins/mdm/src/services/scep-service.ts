import { ProblemError } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import {
  buildCertRep,
  type CertificateAuthority,
  CertificateIssueError,
  certificateFingerprintSha256,
  issueDeviceCertificate,
  openPkiMessage,
  randomSerialHex,
  readPkiMessage,
  type ScepEnrollmentRequest,
  ScepError,
  type ScepFailInfo,
  type ScepReplyTarget,
  type ScepSignedMessage,
} from '../pki/index.js';
import { type DeviceViews, stateOf } from '../storage/device-views.js';
import type { CertificateDoc, DeviceState, MdmModels } from '../storage/models.js';
import type { EnrollmentService } from './enrollment-service.js';
import type { PkiService } from './pki-service.js';
import { type RevocationList, revocationIds } from './revocation-list.js';

/** A device being retired (or gone) renews nothing: its identity is about to be revoked. */
const RENEWABLE_STATES: DeviceState[] = ['pending', 'enrolled'];

/** Bounded labels of refusals (the `reason` of mdm_scep_requests_refused_total). */
export type ScepRefusalReason = 'bad-message' | 'no-challenge' | 'challenge' | 'renewal-signer' | 'not-pending';

/** A refusal the device is told in a signed CertRep FAILURE (RFC 8894 §3.3.2), not as an HTTP error. */
class ScepRefusal extends Error {
  constructor(
    readonly reason: ScepRefusalReason,
    readonly failInfo: ScepFailInfo,
    message: string,
  ) {
    super(message);
  }
}

export interface ScepReply {
  /** The CertRep, SUCCESS or FAILURE. */
  reply: Buffer;
  refused?: ScepRefusalReason;
}

export interface ScepOperationOptions {
  /**
   * Runs once the outer signature verified and before any private-key work (decrypting the envelope,
   * signing); throw to refuse (the route's rate limit per signer key).
   */
  beforePrivateKeyWork?: (message: ScepSignedMessage) => Promise<void>;
}

/**
 * SCEP PKIOperation: PKCSReq against a one-time challenge of a downloaded enrollment session, and
 * RenewalReq signed by a current, unrevoked device identity (the device keeps its binding).
 *
 * Order of checks, cheapest first: the outer SignedData and its signature (public keys only), then the
 * caller's limits, then for a RenewalReq the signer's identity record; only then the envelope is decrypted
 * with the CA key (the CSR and its challenge are inside it), the challenge is claimed, and only a claimed
 * challenge gets a certificate signed. Refusals of an authentic message are CertRep FAILUREs with a failInfo;
 * a message too broken to answer that way is HTTP 400. Nothing is stored on refusal.
 */
export class ScepService {
  constructor(
    private readonly models: MdmModels,
    private readonly views: DeviceViews,
    private readonly revocations: RevocationList,
    private readonly pki: PkiService,
    private readonly enrollments: EnrollmentService,
    private readonly validityDays: number,
    private readonly logger: Logger,
  ) {}

  async pkiOperation(der: Buffer, options: ScepOperationOptions = {}): Promise<ScepReply> {
    let message: ScepSignedMessage;
    try {
      message = readPkiMessage(der);
    } catch (error) {
      if (!(error instanceof ScepError)) throw error;
      // Without a verified transaction, nonce and signer there is nobody to address a CertRep to.
      if (!error.replyTo) throw new ProblemError(400, 'Bad request', `SCEP message rejected: ${error.reason}`);
      return this.refuse(error.replyTo, new ScepRefusal('bad-message', error.failInfo, error.message));
    }
    await options.beforePrivateKeyWork?.(message);
    const { ca } = await this.pki.get();
    try {
      const issued = await this.issue(message, ca);
      return { reply: buildCertRep({ request: issued.request, ca, issuedCertDer: issued.certDer }) };
    } catch (error) {
      return this.refuse(message.replyTo, asRefusal(error));
    }
  }

  private async refuse(to: ScepReplyTarget, refusal: ScepRefusal): Promise<ScepReply> {
    this.logger.info({ reason: refusal.reason, failInfo: refusal.failInfo }, `SCEP refused: ${refusal.message}`);
    const { ca } = await this.pki.get();
    return { reply: buildCertRep({ request: to, ca, failInfo: refusal.failInfo }), refused: refusal.reason };
  }

  private async issue(message: ScepSignedMessage, ca: CertificateAuthority) {
    if (message.messageType === 'CertPoll')
      throw new ScepRefusal('not-pending', 'badCertId', 'nothing is pending: certificates are issued at once');
    // A renewal's signer is checked before the envelope is opened: a stranger's key costs no CA work.
    const previous = message.messageType === 'RenewalReq' ? await this.renewalSigner(message, ca) : undefined;
    const request = openPkiMessage(message, ca);
    if (request.messageType === 'CertPoll') throw new ScepRefusal('not-pending', 'badCertId', 'nothing is pending');
    const certDer = previous ? await this.renew(request, previous) : await this.enroll(request);
    return { request, certDer };
  }

  private async enroll(request: ScepEnrollmentRequest): Promise<Buffer> {
    if (!request.challengePassword)
      throw new ScepRefusal('no-challenge', 'badRequest', 'a challenge password is required');
    // The challenge is claimed before anything is signed; the CSR was already read and checked when the
    // envelope was opened, so a claimed challenge is not wasted on a CSR we cannot sign.
    const serial = randomSerialHex();
    const session = await this.enrollments.consumeChallenge(request.challengePassword, serial);
    if (!session)
      throw new ScepRefusal(
        'challenge',
        'badRequest',
        'the challenge is invalid, already used, or its session expired',
      );
    const { ca } = await this.pki.get();
    const certificate = issueDeviceCertificate(ca, { csrDer: request.csrDer, validityDays: this.validityDays, serial });
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

  /** The RenewalReq's signer: issued by our CA, recorded, unexpired, unrevoked, of a managed device. */
  private async renewalSigner(message: ScepSignedMessage, ca: CertificateAuthority): Promise<CertificateDoc> {
    const signer = message.signerCert;
    if (!signer.checkIssued(ca.certificate) || !signer.verify(ca.certificate.publicKey))
      throw new ScepRefusal('renewal-signer', 'badMessageCheck', 'RenewalReq must be signed by this CA');
    const previous = await this.models.certificates
      .findOne({ fingerprint: certificateFingerprintSha256(message.replyTo.signerCertDer) })
      .lean<CertificateDoc>();
    if (!previous?.enrollmentId || previous.notAfter <= new Date()) {
      throw new ScepRefusal(
        'renewal-signer',
        'badCertId',
        'renewal must be signed by a current, unexpired device identity',
      );
    }
    await this.renewable(previous);
    return previous;
  }

  private async renew(request: ScepEnrollmentRequest, previous: CertificateDoc): Promise<Buffer> {
    const { ca } = await this.pki.get();
    const certificate = issueDeviceCertificate(ca, { csrDer: request.csrDer, validityDays: this.validityDays });
    // The new identity belongs to the same enrollment: bound by that alone, and revoked with it. Nothing to
    // update: the device signs with the old identity until the new profile is installed, then with the new one.
    await this.models.certificates.create({
      _id: certificate.serialHex,
      fingerprint: certificate.fingerprintSha256,
      subject: request.csrSubjectString,
      enrollmentId: previous.enrollmentId,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      renewedFrom: previous._id,
    });
    // A retirement that started meanwhile revokes the enrollment, and so this certificate too; a FAILURE
    // tells the device now.
    await this.renewable(previous);
    this.logger.info(
      { enrollmentId: previous.enrollmentId, serial: certificate.serialHex },
      'renewed device identity certificate',
    );
    return certificate.certDer;
  }

  /** The signer must be an unrevoked identity of the current enrollment of a device still managed. */
  private async renewable(previous: CertificateDoc): Promise<void> {
    const [device, revoked, facts] = await Promise.all([
      this.models.devices.findOne({ enrollmentId: previous.enrollmentId }, { _id: 1 }).lean(),
      this.revocations.isRevoked(revocationIds({ serial: previous._id, enrollmentId: previous.enrollmentId })),
      this.views.factsOf(previous.enrollmentId!),
    ]);
    if (revoked || previous.revokedAt)
      throw new ScepRefusal(
        'renewal-signer',
        'badCertId',
        'renewal must be signed by a current, unexpired device identity',
      );
    if (!device || !RENEWABLE_STATES.includes(stateOf(facts)))
      throw new ScepRefusal('renewal-signer', 'badCertId', 'this identity is not current for a managed device');
  }
}

/** What the device is told; errors of ours (database down) are not refusals and stay HTTP 5xx. */
function asRefusal(error: unknown): ScepRefusal {
  if (error instanceof ScepRefusal) return error;
  if (error instanceof ScepError) return new ScepRefusal('bad-message', error.failInfo, error.message);
  if (error instanceof CertificateIssueError) return new ScepRefusal('bad-message', 'badRequest', error.message);
  throw error;
}
