import { createHash, randomBytes } from 'node:crypto';
import type { EnrollmentSessionService, KeyVault, SignedInUser } from 'enrollment-gateway/sdk';
import type { Challenge } from './challenge.js';
import { MODES, type ModeName } from './config.js';
import type { MachineInfo } from './machine-info.js';
import { type AccessTokenDoc, type AccountEnrollmentModels, insertOnce } from './storage/records.js';

export const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');
const TOKEN_FORM = /^[A-Za-z0-9_-]{43}$/;

export type RedeemRefusal = 'unknown' | 'expired' | 'other-device' | 'replayed';
export type Redeemed = { profileUrl: string; doc: AccessTokenDoc } | { refused: RedeemRefusal };

/**
 * The access tokens Settings receives after the web sign-in: random, stored only as a hash, short-lived, bound to
 * the machine info of the device that asked, and usable once (a unique insert in the redemptions collection).
 */
export class AccessTokens {
  constructor(
    private readonly models: AccountEnrollmentModels,
    private readonly vault: KeyVault,
    private readonly ttlSeconds: number,
  ) {}

  /**
   * Creates the enrollment session (the vetoes of other plugins run here, while the user can still read why) and
   * the token that later fetches its profile.
   */
  async issue(
    enrollments: EnrollmentSessionService,
    user: SignedInUser,
    challenge: Challenge,
    profileId: string | undefined,
  ): Promise<string> {
    const session = await enrollments.create({
      userId: user.id,
      profileId,
      userDisplayName: user.displayName,
      origin: 'account-driven',
      accountDriven: { mode: MODES[challenge.mode].enrollmentMode, managedAppleId: user.upn },
    });
    const token = randomBytes(32).toString('base64url');
    const id = hashToken(token);
    const now = new Date();
    await insertOnce<AccessTokenDoc>(this.models.tokens, {
      _id: id,
      userId: user.id,
      upn: user.upn,
      mode: challenge.mode,
      machineDigest: challenge.machineDigest,
      sessionId: session.id,
      profileUrlSealed: this.vault.seal(Buffer.from(session.profileUrl), `account-enrollment:${id}`),
      expiresAt: new Date(Math.min(now.getTime() + this.ttlSeconds * 1000, session.expiresAt.getTime())),
      createdAt: now,
    });
    return token;
  }

  /** Checks the token against the device and mode, then claims its single use. Refusals store nothing. */
  async redeem(token: string, mode: ModeName, info: MachineInfo): Promise<Redeemed> {
    if (!TOKEN_FORM.test(token)) return { refused: 'unknown' };
    const id = hashToken(token);
    const doc = await this.models.tokens.findById(id).lean<AccessTokenDoc>();
    if (!doc) return { refused: 'unknown' };
    if (doc.expiresAt.getTime() <= Date.now()) return { refused: 'expired' };
    if (doc.mode !== mode || doc.machineDigest !== info.digest) return { refused: 'other-device' };
    if (!(await insertOnce(this.models.redemptions, { _id: id, at: new Date() }))) return { refused: 'replayed' };
    const profileUrl = this.vault.open(doc.profileUrlSealed, `account-enrollment:${id}`).toString('utf8');
    return { profileUrl, doc };
  }
}
