import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { ProblemError, ValidationProblem } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { RelyingParty } from './config.js';
import type { AdminRecord, AdminRole, InviteRecord, PasskeyStorage } from './storage/passkey-storage.js';

/** Why a ceremony or invite was refused: a clear 4xx, and nothing is changed. */
export type PasskeyRefusal =
  | 'invite-unknown'
  | 'invite-expired'
  | 'invite-used'
  | 'ceremony-expired'
  | 'verification-failed'
  | 'unknown-passkey'
  | 'admin-revoked'
  | 'counter-regressed';

const REFUSALS: Record<PasskeyRefusal, { status: number; title: string; detail: string }> = {
  'invite-unknown': { status: 404, title: 'Invite not found', detail: 'this invite link is not valid' },
  'invite-expired': { status: 410, title: 'Invite expired', detail: 'this invite link expired: ask for a new one' },
  'invite-used': { status: 410, title: 'Invite used', detail: 'this invite link was already used: ask for a new one' },
  'ceremony-expired': {
    status: 400,
    title: 'Passkey request expired',
    detail: 'the passkey request expired or was already answered: try again',
  },
  'verification-failed': {
    status: 400,
    title: 'Passkey not accepted',
    detail: 'the passkey answer did not verify for this request',
  },
  'unknown-passkey': { status: 400, title: 'Unknown passkey', detail: 'this passkey is not registered here' },
  'admin-revoked': { status: 403, title: 'Access revoked', detail: 'this administrator account was revoked' },
  'counter-regressed': {
    status: 400,
    title: 'Passkey not accepted',
    detail: "the passkey's signature counter went backwards (a cloned authenticator?)",
  },
};

export class PasskeyRefused extends ProblemError {
  constructor(readonly reason: PasskeyRefusal) {
    const { status, title, detail } = REFUSALS[reason];
    super(status, title, detail, { extensions: { reason } });
  }
}

export const adminRoles = ['read-only', 'full'] as const satisfies readonly AdminRole[];
const inviteFields = z.object({
  email: z
    .email()
    .max(254)
    .transform((email) => email.toLowerCase()),
  role: z.enum(adminRoles),
  createdBy: z.string().min(1),
});

/** A read-only admin reads every area; a full admin may do everything. */
export function scopesOf(role: AdminRole): string[] {
  return role === 'full' ? ['*'] : ['*:read'];
}

export interface AdminSummary {
  id: string;
  email: string;
  role: AdminRole;
  createdAt: string;
  revokedAt: string | null;
}

const CEREMONY_MS = 5 * 60_000;
const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Invites, passkey registration and sign-in. Challenges live in Redis and are taken once (GETDEL). */
export class PasskeyService {
  constructor(
    private readonly storage: PasskeyStorage,
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly rp: RelyingParty,
    private readonly inviteMs: number,
    private readonly publicUrl: string,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Creates an invite; the link carries the only copy of its secret. */
  async invite(input: { email: string; role: AdminRole; createdBy: string }): Promise<{
    link: string;
    invite: Omit<InviteRecord, '_id'> & { id: string };
  }> {
    const fields = inviteFields.safeParse(input);
    if (!fields.success) throw new ValidationProblem(fields.error.issues.map((i) => i.message).join('; '));
    const token = randomBytes(32).toString('base64url');
    const now = this.clock();
    const record: InviteRecord = {
      _id: hashToken(token),
      ...fields.data,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.inviteMs),
    };
    await this.storage.insertInvite(record);
    const { _id, ...rest } = record;
    return { link: `${this.publicUrl}/admin-auth/invite/${token}`, invite: { id: _id.slice(0, 16), ...rest } };
  }

  /** The invite behind a link, while it can still be used. */
  async openInvite(token: string): Promise<InviteRecord> {
    if (!TOKEN_PATTERN.test(token)) throw new PasskeyRefused('invite-unknown');
    const invite = await this.storage.findInvite(hashToken(token));
    if (!invite) throw new PasskeyRefused('invite-unknown');
    if (invite.expiresAt <= this.clock()) throw new PasskeyRefused('invite-expired');
    if (await this.storage.inviteClaimed(invite._id)) throw new PasskeyRefused('invite-used');
    return invite;
  }

  private async remember(kind: string, value: Record<string, string>): Promise<string> {
    const ceremonyId = randomUUID();
    await this.redis.set(`${this.keyPrefix}ceremony:${kind}:${ceremonyId}`, JSON.stringify(value), 'PX', CEREMONY_MS);
    return ceremonyId;
  }

  private async take(kind: string, ceremonyId: string): Promise<Record<string, string>> {
    if (!/^[0-9a-f-]{36}$/.test(ceremonyId)) throw new PasskeyRefused('ceremony-expired');
    const raw = await this.redis.getdel(`${this.keyPrefix}ceremony:${kind}:${ceremonyId}`);
    if (!raw) throw new PasskeyRefused('ceremony-expired');
    return JSON.parse(raw) as Record<string, string>;
  }

  async registrationOptions(
    token: string,
  ): Promise<{ ceremonyId: string; options: PublicKeyCredentialCreationOptionsJSON }> {
    const invite = await this.openInvite(token);
    const options = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userName: invite.email,
      userDisplayName: invite.email,
      attestationType: 'none',
      authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    });
    const ceremonyId = await this.remember('register', {
      challenge: options.challenge,
      inviteId: invite._id,
      userId: options.user.id,
    });
    return { ceremonyId, options };
  }

  /** Verifies the new passkey, claims the invite (once), and creates the admin with it. */
  async register(token: string, ceremonyId: string, response: RegistrationResponseJSON): Promise<AdminRecord> {
    const invite = await this.openInvite(token);
    const ceremony = await this.take('register', ceremonyId);
    if (ceremony.inviteId !== invite._id) throw new PasskeyRefused('ceremony-expired');
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: ceremony.challenge,
        expectedOrigin: this.rp.origins,
        expectedRPID: this.rp.id,
        requireUserVerification: false,
      });
    } catch {
      throw new PasskeyRefused('verification-failed');
    }
    if (!verified.verified) throw new PasskeyRefused('verification-failed');
    const { credential } = verified.registrationInfo;
    const now = this.clock();
    const admin: AdminRecord = {
      _id: ceremony.userId,
      email: invite.email,
      role: invite.role,
      inviteId: invite._id,
      createdAt: now,
    };
    // The claim goes first: of two registrations racing on one link, only one creates an admin.
    if (!(await this.storage.claimInvite(invite._id, admin._id, now))) throw new PasskeyRefused('invite-used');
    await this.storage.insertAdmin(admin);
    await this.storage.insertCredential({
      _id: credential.id,
      adminId: admin._id,
      publicKey: Buffer.from(credential.publicKey),
      counter: credential.counter,
      transports: credential.transports ?? [],
      createdAt: now,
    });
    return admin;
  }

  async authenticationOptions(): Promise<{ ceremonyId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
    const options = await generateAuthenticationOptions({ rpID: this.rp.id, userVerification: 'preferred' });
    return { ceremonyId: await this.remember('signin', { challenge: options.challenge }), options };
  }

  /** Verifies a sign-in with a registered passkey of an admin who is not revoked. */
  async authenticate(ceremonyId: string, response: AuthenticationResponseJSON): Promise<AdminRecord> {
    const ceremony = await this.take('signin', ceremonyId);
    const credential = await this.storage.findCredential(response.id);
    if (!credential) throw new PasskeyRefused('unknown-passkey');
    const admin = await this.activeAdmin(credential.adminId);
    const counter = (await this.storage.lastCounter(credential._id)) ?? credential.counter;
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: ceremony.challenge,
        expectedOrigin: this.rp.origins,
        expectedRPID: this.rp.id,
        credential: {
          id: credential._id,
          publicKey: new Uint8Array(credential.publicKey),
          counter,
          transports: credential.transports as AuthenticatorTransport[],
        },
        requireUserVerification: false,
      });
    } catch (error) {
      if (error instanceof Error && /counter/i.test(error.message)) throw new PasskeyRefused('counter-regressed');
      throw new PasskeyRefused('verification-failed');
    }
    if (!verified.verified) throw new PasskeyRefused('verification-failed');
    await this.storage.recordUse(credential._id, verified.authenticationInfo.newCounter, this.clock());
    return admin;
  }

  /** The admin, unless unknown or revoked (then 403). */
  async activeAdmin(adminId: string): Promise<AdminRecord> {
    const [admin, revocations] = await Promise.all([
      this.storage.findAdmin(adminId),
      this.storage.revocations([adminId]),
    ]);
    if (!admin || revocations.has(adminId)) throw new PasskeyRefused('admin-revoked');
    return admin;
  }

  async list(): Promise<AdminSummary[]> {
    const admins = await this.storage.listAdmins();
    const revoked = await this.storage.revocations(admins.map((a) => a._id));
    return admins.map((admin) => ({
      id: admin._id,
      email: admin.email,
      role: admin.role,
      createdAt: admin.createdAt.toISOString(),
      revokedAt: revoked.get(admin._id)?.at.toISOString() ?? null,
    }));
  }

  /** Revokes every admin with this email (or this id); answers those revoked now. */
  async revoke(emailOrId: string, by: string): Promise<AdminSummary[]> {
    const wanted = emailOrId.toLowerCase();
    const targets = (await this.list()).filter(
      (admin) => admin.revokedAt === null && (admin.email === wanted || admin.id === emailOrId),
    );
    const at = this.clock();
    for (const admin of targets) await this.storage.revoke(admin.id, at, by);
    return targets.map((admin) => ({ ...admin, revokedAt: at.toISOString() }));
  }
}
