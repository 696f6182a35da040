import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  askVetoPoint,
  type DevicePlatform,
  type EnrollmentSession,
  type EnrollmentSessionRequest,
  type EnrollmentSessionService,
  ExtensionFailedError,
  enrollmentIdentityPoint,
  enrollmentPayloadsPoint,
  type PluginContext,
  ProblemError,
  type PushTopicSource,
  VetoError,
} from 'enrollment-gateway/sdk';
import { buildEnrollmentProfile, buildPlist } from '../protocol/index.js';
import { type FactDoc, type FactKind, factId } from '../storage/device-records.js';
import { type EnrollmentDoc, insertOnce, type MdmModels } from '../storage/models.js';
import { raiseEnrollmentStep } from './attempt-steps.js';
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

type SessionState = EnrollmentDoc['state'];
/** Session steps, strongest first: the session's state is the strongest fact recorded. */
const SESSION_ORDER: SessionState[] = ['enrolled', 'cancelled', 'certificate-issued', 'downloaded'];

/** A session's state from its facts (sessions of before the facts: the state stored on the session). */
export function sessionState(doc: EnrollmentDoc, facts: ReadonlyMap<FactKind, FactDoc>): SessionState {
  for (const kind of SESSION_ORDER) if (facts.has(kind as FactKind)) return kind;
  return doc.state;
}

function toSession(
  doc: EnrollmentDoc,
  facts: ReadonlyMap<FactKind, FactDoc>,
  publicUrl: string,
  downloadToken?: string,
): EnrollmentSession {
  const state = sessionState(doc, facts);
  return {
    id: doc._id,
    userId: doc.userId,
    profileId: doc.profileId,
    profileUrl: downloadToken ? `${publicUrl}/mdm/enroll/${downloadToken}` : '',
    expiresAt: doc.expiresAt,
    state: state === 'issued' || state === 'downloaded' ? (doc.expiresAt <= new Date() ? 'expired' : state) : state,
    deviceId: facts.get('enrolled')?.deviceId ?? doc.deviceId,
  };
}

/** A contributor that hangs must not hang the user's download: it fails closed like one that throws. */
const CONTRIBUTOR_TIMEOUT_MS = 5_000;

/**
 * One-time enrollment sessions: a download token for the signed profile and a SCEP challenge,
 * each usable once, both expiring with the session.
 */
export class EnrollmentService implements EnrollmentSessionService {
  constructor(
    private readonly models: MdmModels,
    private readonly pki: PkiService,
    private readonly settings: EnrollmentSettings,
    private readonly topics: PushTopicSource | undefined,
    /** Asks enrollmentPayloadsPoint (the plugin's context): its contributions, logger and metrics. */
    private readonly extensions: Pick<PluginContext<unknown>, 'extensions' | 'logger' | 'metrics' | 'events'>,
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
      ...(request.accountDriven
        ? { accountDriven: { mode: request.accountDriven.mode, managedAppleId: request.accountDriven.managedAppleId } }
        : {}),
      downloadTokenHash: hashSecret(downloadToken),
      challengeHash: hashSecret(randomBytes(32).toString('base64url')),
      state: 'issued',
      expiresAt: new Date(Date.now() + this.settings.sessionTtlSeconds * 1000),
    });
    return toSession(doc.toObject(), new Map(), this.settings.publicUrl, downloadToken);
  }

  /** The PayloadIdentifier served for a session; the configured one for sessions older than that record. */
  async profileIdentifierOf(enrollmentId: string | undefined): Promise<string> {
    if (!enrollmentId) return this.settings.profileIdentifier;
    const [fact, doc] = await Promise.all([
      this.models.facts.findById(factId(enrollmentId, 'downloaded')).lean<FactDoc>(),
      this.models.enrollments.findById(enrollmentId, { profileIdentifier: 1 }).lean<EnrollmentDoc>(),
    ]);
    return fact?.profileIdentifier ?? doc?.profileIdentifier ?? this.settings.profileIdentifier;
  }

  private async factsOf(enrollmentId: string): Promise<Map<FactKind, FactDoc>> {
    const docs = await this.models.facts.find({ enrollmentId }).lean<FactDoc[]>();
    return new Map(docs.map((d) => [d.kind, d]));
  }

  async get(sessionId: string): Promise<EnrollmentSession | undefined> {
    const doc = await this.models.enrollments.findById(sessionId).lean<EnrollmentDoc>();
    return doc ? toSession(doc, await this.factsOf(doc._id), this.settings.publicUrl) : undefined;
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
    let cancelled = 0;
    for (const doc of await this.models.enrollments.find({ userId }).lean<EnrollmentDoc[]>()) {
      if (!states.includes(sessionState(doc, await this.factsOf(doc._id)))) continue;
      const fact = { _id: factId(doc._id, 'cancelled'), enrollmentId: doc._id, kind: 'cancelled' as const };
      if (await insertOnce<FactDoc>(this.models.facts, { ...fact, at: new Date(), reason })) cancelled++;
    }
    return cancelled;
  }

  private async collectPayloads(request: {
    userId: string;
    enrollmentId: string;
    profileId?: string;
  }): Promise<Record<string, unknown>[]> {
    return this.askContributors(async () => {
      const outcomes = await askVetoPoint(
        this.extensions,
        enrollmentPayloadsPoint,
        (contributor) => contributor.payloads(request),
        { timeoutMs: CONTRIBUTOR_TIMEOUT_MS },
      );
      return outcomes.flatMap((outcome) => outcome.value);
    });
  }

  /** The first contributed identity payload for this device (ACME), or undefined: the profile uses SCEP. */
  private async identityPayload(
    session: EnrollmentDoc,
    device: { platform: DevicePlatform; osVersion?: string },
  ): Promise<Record<string, unknown> | undefined> {
    const request = { enrollmentId: session._id, userId: session.userId, profileId: session.profileId, ...device };
    return this.askContributors(async () => {
      const outcomes = await askVetoPoint(
        this.extensions,
        enrollmentIdentityPoint,
        (contributor) => contributor.identityPayload(request),
        { timeoutMs: CONTRIBUTOR_TIMEOUT_MS },
      );
      return outcomes.map((outcome) => outcome.value).find((payload) => payload !== undefined);
    });
  }

  private async askContributors<T>(ask: () => Promise<T>): Promise<T> {
    try {
      return await ask();
    } catch (error) {
      if (VetoError.is(error)) {
        throw new ProblemError(403, 'Enrollment refused', error.userMessage, {
          extensions: { vetoedBy: error.plugin },
        });
      }
      // Fail closed: a broken contributor must not yield a profile missing what it would have added.
      if (ExtensionFailedError.is(error)) {
        throw new ProblemError(
          503,
          'Enrollment unavailable',
          `the ${error.plugin} plugin could not prepare the profile; try again later`,
        );
      }
      throw error;
    }
  }

  /**
   * Consumes the download token and returns the signed profile. The SCEP challenge is minted here,
   * so only the holder of this one download can ever obtain a certificate for the session.
   */
  async downloadProfile(
    downloadToken: string,
    device: { platform: DevicePlatform; osVersion?: string } = { platform: 'unknown' },
  ): Promise<{ body: Buffer; session: EnrollmentDoc }> {
    const now = new Date();
    const challenge = randomBytes(24).toString('base64url');
    const tokenHash = hashSecret(downloadToken);
    const session = (await this.models.enrollments
      .findOne({ downloadTokenHash: tokenHash })
      .lean()) as EnrollmentDoc | null;
    if (!session) throw new ProblemError(404, 'Not found', 'unknown enrollment link');
    const state = sessionState(session, await this.factsOf(session._id));
    if (state !== 'issued' || session.expiresAt <= now) {
      if (state === 'issued') await this.raiseStep(session, 'profile-downloaded', 'link-expired');
      throw new ProblemError(410, 'Gone', 'this enrollment link was already used, cancelled or has expired');
    }
    // Everything that can still fail runs before the link is used up, so a passing fault never burns it.
    const [material, topic, extraPayloads, identityPayload] = await Promise.all([
      this.pki.get(),
      this.topics?.currentTopic(),
      this.collectPayloads({ userId: session.userId, enrollmentId: session._id, profileId: session.profileId }),
      this.identityPayload(session, device),
    ]);
    if (!topic) throw new ProblemError(409, 'Setup incomplete', 'no valid Apple MDM push certificate is installed');
    // The 'downloaded' fact is the link's single use (a unique insert), and carries the challenge minted for it.
    const downloaded = await insertOnce<FactDoc>(this.models.facts, {
      _id: factId(session._id, 'downloaded'),
      enrollmentId: session._id,
      kind: 'downloaded',
      at: now,
      challengeHash: hashSecret(challenge),
      profileIdentifier: this.settings.profileIdentifier,
    });
    if (!downloaded)
      throw new ProblemError(410, 'Gone', 'this enrollment link was already used, cancelled or has expired');
    const parts = { identifier: this.settings.profileIdentifier, challenge, extraPayloads, identityPayload };
    const body = this.signedProfile(session, material, topic, parts);
    await this.raiseStep(session, 'profile-downloaded', undefined, device);
    return { body, session };
  }

  /**
   * The enrollment's profile again, around a new identity payload, for InstallProfile: same PayloadIdentifier,
   * server URLs and topic (Apple replaces an MDM profile only so), the payloads contributors give now, a new
   * PayloadUUID. Its SCEP challenge is never recorded, so it is unusable; the profile names `identityPayload`.
   */
  async renewalProfile(enrollmentId: string, identityPayload: Record<string, unknown>): Promise<Buffer> {
    const session = await this.models.enrollments.findById(enrollmentId).lean<EnrollmentDoc>();
    if (!session) throw new ProblemError(404, 'Not found', 'unknown enrollment');
    const [material, topic, extraPayloads, identifier] = await Promise.all([
      this.pki.get(),
      this.topics?.currentTopic(),
      this.collectPayloads({ userId: session.userId, enrollmentId, profileId: session.profileId }),
      this.profileIdentifierOf(enrollmentId),
    ]);
    if (!topic) throw new ProblemError(409, 'Setup incomplete', 'no valid Apple MDM push certificate is installed');
    const challenge = randomBytes(24).toString('base64url');
    const parts = { identifier, challenge, extraPayloads, identityPayload, profileUuid: randomUUID().toUpperCase() };
    return this.signedProfile(session, material, topic, parts);
  }

  private signedProfile(
    session: EnrollmentDoc,
    material: Awaited<ReturnType<PkiService['get']>>,
    topic: string,
    parts: {
      identifier: string;
      challenge: string;
      extraPayloads: Record<string, unknown>[];
      identityPayload?: Record<string, unknown>;
      profileUuid?: string;
    },
  ): Buffer {
    const base = this.settings.publicUrl;
    const profile = buildEnrollmentProfile({
      identifier: parts.identifier,
      displayName: `${this.settings.organization} Management`,
      organization: this.settings.organization,
      description:
        'Lets your organisation manage work apps and settings on this device. It cannot see your personal data or erase the device.',
      profileUuid: parts.profileUuid ?? session._id.toUpperCase(),
      rootCertificate: { der: material.ca.certDer, displayName: `${this.settings.organization} Device CA` },
      scep: {
        url: `${base}/scep`,
        challenge: parts.challenge,
        subject: [
          ['O', this.settings.organization],
          ['CN', `enrollment-${session._id}`],
        ],
        keySize: 2048,
      },
      mdm: {
        serverUrl: `${base}/mdm/connect`,
        checkInUrl: `${base}/mdm/checkin`,
        topic,
        accountDriven: session.accountDriven?.mode
          ? { mode: session.accountDriven.mode, managedAppleId: session.accountDriven.managedAppleId }
          : undefined,
      },
      extraPayloads: parts.extraPayloads,
      identityPayload: parts.identityPayload,
    });
    return material.signer.sign(buildPlist(profile));
  }

  /** The SDK's download: the token is the last segment of the session's profileUrl (…/mdm/enroll/<token>). */
  async fetchProfile(
    profileUrl: string,
    device: { platform: DevicePlatform; osVersion?: string },
  ): Promise<{ body: Buffer; sessionId: string }> {
    const prefix = `${this.settings.publicUrl}/mdm/enroll/`;
    const token = profileUrl.startsWith(prefix) ? profileUrl.slice(prefix.length) : '';
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) throw new ProblemError(404, 'Not found', 'unknown enrollment link');
    const { body, session } = await this.downloadProfile(token, device);
    return { body, sessionId: session._id };
  }

  /** Uses up a SCEP challenge: valid once, only for a downloaded, unexpired session. */
  async consumeChallenge(challenge: string, certificateSerial: string): Promise<EnrollmentDoc | undefined> {
    const challengeHash = hashSecret(challenge);
    const fact = await this.models.facts.findOne({ challengeHash, kind: 'downloaded' }).lean<FactDoc>();
    // Sessions downloaded before the facts kept the challenge on the session.
    const session = await this.models.enrollments
      .findOne(fact ? { _id: fact.enrollmentId } : { challengeHash, state: 'downloaded' })
      .lean<EnrollmentDoc>();
    if (!session) return undefined;
    const state = sessionState(session, await this.factsOf(session._id));
    if (session.expiresAt <= new Date() || state !== 'downloaded') {
      // A retry after the certificate was issued is no new failure of the attempt.
      if (state === 'downloaded' || state === 'issued')
        await this.raiseStep(session, 'identity-issued', 'challenge-refused');
      return undefined;
    }
    // The 'certificate-issued' fact is the challenge's single use; claimed only for a live session, so
    // guessing challenges stores nothing.
    const claimed = await insertOnce<FactDoc>(this.models.facts, {
      _id: factId(session._id, 'certificate-issued'),
      enrollmentId: session._id,
      kind: 'certificate-issued',
      at: new Date(),
      certificateSerial,
    });
    if (claimed) await this.raiseStep(session, 'identity-issued', undefined, undefined, 'scep');
    return claimed ? session : undefined;
  }

  /** The attempt's step for this session (see attempt-steps.ts); a failure when `reason` is given. */
  private raiseStep(
    session: EnrollmentDoc,
    step: 'profile-downloaded' | 'identity-issued',
    reason?: 'link-expired' | 'challenge-refused',
    device?: { platform: DevicePlatform; osVersion?: string },
    method?: 'scep',
  ): Promise<void> {
    return raiseEnrollmentStep(this.extensions.events, this.extensions.logger, {
      step,
      outcome: reason ? 'failed' : 'passed',
      ...(reason ? { reason } : {}),
      enrollmentId: session._id,
      userId: session.userId,
      ...(session.profileId ? { profileId: session.profileId } : {}),
      ...(device && device.platform !== 'unknown' ? { platform: device.platform } : {}),
      ...(device?.osVersion ? { osVersion: device.osVersion } : {}),
      ...(method ? { method } : {}),
    });
  }
}
