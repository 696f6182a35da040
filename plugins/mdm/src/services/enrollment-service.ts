import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  type Contribution,
  type EnrollmentPayloadContributor,
  type EnrollmentSession,
  type EnrollmentSessionRequest,
  type EnrollmentSessionService,
  ProblemError,
  type PushTopicSource,
  VetoError,
} from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { buildEnrollmentProfile, buildPlist } from '../protocol/index.js';
import { claimOnce, type EnrollmentDoc, type MdmModels } from '../storage/models.js';
import type { PkiService } from './pki-service.js';

export const hashSecret = (value: string) => createHash('sha256').update(value).digest('hex');

export interface EnrollmentSettings {
  publicUrl: string;
  organization: string;
  profileIdentifier: string;
  sessionTtlSeconds: number;
}

export interface SetupProblem {
  item: 'ca' | 'signing-certificate' | 'push-certificate';
  problem: string;
}

function toSession(doc: EnrollmentDoc, publicUrl: string, downloadToken?: string): EnrollmentSession {
  return {
    id: doc._id,
    userId: doc.userId,
    profileId: doc.profileId,
    profileUrl: downloadToken ? `${publicUrl}/mdm/enroll/${downloadToken}` : '',
    expiresAt: doc.expiresAt,
    state:
      doc.state === 'issued' || doc.state === 'downloaded'
        ? doc.expiresAt <= new Date()
          ? 'expired'
          : doc.state
        : doc.state,
    deviceId: doc.deviceId,
  };
}

/**
 * One-time enrollment sessions: a download token for the signed profile and a SCEP challenge,
 * each usable once, both expiring with the session.
 */
/** A contributor that hangs must not hang the user's download: it fails closed like one that throws. */
const CONTRIBUTOR_TIMEOUT_MS = 5_000;

async function answerWithin<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export class EnrollmentService implements EnrollmentSessionService {
  constructor(
    private readonly models: MdmModels,
    private readonly pki: PkiService,
    private readonly settings: EnrollmentSettings,
    private readonly topics: PushTopicSource | undefined,
    private readonly contributors: () => readonly Contribution<EnrollmentPayloadContributor>[],
    private readonly logger: Logger,
  ) {}

  async setupProblems(): Promise<SetupProblem[]> {
    const problems: SetupProblem[] = await this.pki.problems();
    const topic = await this.topics?.currentTopic();
    if (!topic)
      problems.push({ item: 'push-certificate', problem: 'no valid Apple MDM push certificate is installed' });
    return problems;
  }

  async create(request: EnrollmentSessionRequest): Promise<EnrollmentSession> {
    const problems = await this.setupProblems();
    if (problems.length > 0) {
      throw new ProblemError(409, 'Setup incomplete', problems.map((p) => p.problem).join('; '), {
        type: 'urn:gateway:setup-incomplete',
      });
    }
    const id = randomUUID();
    // Contributors run now, so a veto stops the session before anything is handed out.
    await this.collectPayloads({ userId: request.userId, enrollmentId: id, profileId: request.profileId });
    const downloadToken = randomBytes(32).toString('base64url');
    const doc = await this.models.enrollments.create({
      _id: id,
      userId: request.userId,
      profileId: request.profileId,
      origin: request.origin,
      downloadTokenHash: hashSecret(downloadToken),
      challengeHash: hashSecret(randomBytes(32).toString('base64url')),
      state: 'issued',
      expiresAt: new Date(Date.now() + this.settings.sessionTtlSeconds * 1000),
    });
    return toSession(doc.toObject(), this.settings.publicUrl, downloadToken);
  }

  /** The PayloadIdentifier served for a session; the configured one for sessions older than that record. */
  async profileIdentifierOf(enrollmentId: string | undefined): Promise<string> {
    const doc = enrollmentId
      ? await this.models.enrollments.findById(enrollmentId, { profileIdentifier: 1 }).lean<EnrollmentDoc>()
      : null;
    return doc?.profileIdentifier ?? this.settings.profileIdentifier;
  }

  async get(sessionId: string): Promise<EnrollmentSession | undefined> {
    const doc = await this.models.enrollments.findById(sessionId).lean();
    return doc ? toSession(doc as EnrollmentDoc, this.settings.publicUrl) : undefined;
  }

  /**
   * A cancelled session can no longer be used anywhere: download and SCEP want 'issued'/'downloaded', and
   * Authenticate wants 'certificate-issued' or 'enrolled'. `includeCertificateIssued` also stops a profile
   * being installed right now (retirement of a user), which a newer download must not do.
   */
  async cancelPending(
    userId: string,
    reason: string,
    options?: { includeCertificateIssued?: boolean },
  ): Promise<number> {
    const states: EnrollmentDoc['state'][] = options?.includeCertificateIssued
      ? ['issued', 'downloaded', 'certificate-issued']
      : ['issued', 'downloaded'];
    const result = await this.models.enrollments.updateMany(
      { userId, state: { $in: states } },
      { $set: { state: 'cancelled', cancelReason: reason } },
    );
    return result.modifiedCount;
  }

  private async collectPayloads(request: {
    userId: string;
    enrollmentId: string;
    profileId?: string;
  }): Promise<Record<string, unknown>[]> {
    const payloads: Record<string, unknown>[] = [];
    for (const { plugin, value } of this.contributors()) {
      try {
        payloads.push(...(await answerWithin(value.payloads(request), CONTRIBUTOR_TIMEOUT_MS)));
      } catch (error) {
        if (VetoError.is(error))
          throw new ProblemError(403, 'Enrollment refused', error.userMessage, { extensions: { vetoedBy: plugin } });
        // Fail closed: a broken contributor must not yield a profile missing what it would have added.
        this.logger.error({ err: error, plugin }, 'enrollment payload contributor failed');
        throw new ProblemError(
          503,
          'Enrollment unavailable',
          `the ${plugin} plugin could not prepare the profile; try again later`,
        );
      }
    }
    return payloads;
  }

  /**
   * Consumes the download token and returns the signed profile. The SCEP challenge is minted here,
   * so only the holder of this one download can ever obtain a certificate for the session.
   */
  async downloadProfile(downloadToken: string): Promise<{ body: Buffer; session: EnrollmentDoc }> {
    const now = new Date();
    const challenge = randomBytes(24).toString('base64url');
    const tokenHash = hashSecret(downloadToken);
    const session = (await this.models.enrollments
      .findOne({ downloadTokenHash: tokenHash })
      .lean()) as EnrollmentDoc | null;
    if (!session) throw new ProblemError(404, 'Not found', 'unknown enrollment link');
    if (session.state !== 'issued' || session.expiresAt <= now) {
      throw new ProblemError(410, 'Gone', 'this enrollment link was already used, cancelled or has expired');
    }
    // Everything that can still fail runs before the link is used up, so a passing fault never burns it.
    const [material, topic, extraPayloads] = await Promise.all([
      this.pki.get(),
      this.topics?.currentTopic(),
      this.collectPayloads({ userId: session.userId, enrollmentId: session._id, profileId: session.profileId }),
    ]);
    if (!topic) throw new ProblemError(409, 'Setup incomplete', 'no valid Apple MDM push certificate is installed');
    const doc = (await claimOnce(this.models, `download:${tokenHash}`))
      ? ((await this.models.enrollments
          .findOneAndUpdate(
            { _id: session._id, state: 'issued' },
            {
              $set: {
                state: 'downloaded',
                challengeHash: hashSecret(challenge),
                profileIdentifier: this.settings.profileIdentifier,
              },
            },
            { returnDocument: 'after' },
          )
          .lean()) as EnrollmentDoc | null)
      : null;
    if (!doc) throw new ProblemError(410, 'Gone', 'this enrollment link was already used, cancelled or has expired');
    const base = this.settings.publicUrl;
    const profile = buildEnrollmentProfile({
      identifier: this.settings.profileIdentifier,
      displayName: `${this.settings.organization} Management`,
      organization: this.settings.organization,
      description:
        'Lets your organisation manage work apps and settings on this device. It cannot see your personal data or erase the device.',
      profileUuid: doc._id.toUpperCase(),
      rootCertificate: { der: material.ca.certDer, displayName: `${this.settings.organization} Device CA` },
      scep: {
        url: `${base}/scep`,
        challenge,
        subject: [
          ['O', this.settings.organization],
          ['CN', `enrollment-${doc._id}`],
        ],
        keySize: 2048,
      },
      mdm: { serverUrl: `${base}/mdm/connect`, checkInUrl: `${base}/mdm/checkin`, topic },
      extraPayloads,
    });
    return { body: material.signer.sign(buildPlist(profile)), session: doc };
  }

  /** Uses up a SCEP challenge: valid once, only for a downloaded, unexpired session. */
  async consumeChallenge(challenge: string, certificateSerial: string): Promise<EnrollmentDoc | undefined> {
    const challengeHash = hashSecret(challenge);
    const session = await this.models.enrollments
      .findOne({ challengeHash, state: 'downloaded', expiresAt: { $gt: new Date() } })
      .lean();
    // Claim only for a live session, so guessing challenges stores nothing.
    if (!session || !(await claimOnce(this.models, `challenge:${challengeHash}`))) return undefined;
    const doc = await this.models.enrollments
      .findOneAndUpdate(
        { _id: session._id, state: 'downloaded' },
        { $set: { state: 'certificate-issued', certificateSerial } },
        { returnDocument: 'after' },
      )
      .lean();
    return (doc as EnrollmentDoc | null) ?? undefined;
  }
}
