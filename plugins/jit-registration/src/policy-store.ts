import { ProblemError } from 'enrollment-gateway/sdk';
import { type Model, Schema } from 'mongoose';
import type { JitModels, SsoPolicyDoc } from './models.js';
import { type SsoPolicy, ssoPolicySchema } from './sso-policy.js';

const POLICY_ID = 'default';
/** A claim whose write never followed (the process died in between) is taken over after this long. */
const ABANDONED_CLAIM_MS = 60_000;

export interface StoredSsoPolicy {
  policy: SsoPolicy;
  /** 0 while the defaults from config apply (nothing saved yet). */
  version: number;
  updatedBy?: string;
  updatedAt?: Date;
}

/** One per version ever saved: the unique _id is what lets exactly one writer move from n to n + 1. */
interface ClaimDoc {
  _id: string;
  at: Date;
}

const claimSchema = new Schema<ClaimDoc>(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { collection: 'jit_sso_policy_claims', versionKey: false },
);

const isDuplicateKey = (error: unknown) =>
  (error as { code?: number }).code === 11000 ||
  /duplicate key|SQLSTATE 23505/i.test(String((error as { message?: unknown }).message ?? ''));

export function stalePolicy(currentVersion: number): ProblemError {
  return new ProblemError(409, 'Conflict', 'the SSO policy changed since you read it; reload and try again', {
    extensions: { currentVersion },
  });
}

/** The admin-editable SSO settings: one document, falling back to the config defaults until an admin saves. */
export class SsoPolicyStore {
  private readonly claims: Model<ClaimDoc>;

  constructor(
    private readonly models: JitModels,
    private readonly defaults: () => SsoPolicy,
  ) {
    const connection = models.policy.db;
    this.claims =
      (connection.models.JitSsoPolicyClaim as Model<ClaimDoc> | undefined) ??
      connection.model<ClaimDoc>('JitSsoPolicyClaim', claimSchema);
  }

  async current(): Promise<StoredSsoPolicy> {
    const doc = await this.models.policy.findById(POLICY_ID).lean<SsoPolicyDoc>();
    if (!doc) return { policy: this.defaults(), version: 0 };
    const { _id, version, updatedBy, updatedAt, ...fields } = doc;
    // Re-validate what was stored: a document edited by hand must not reach devices with padded values.
    return { policy: ssoPolicySchema.parse(fields), version, updatedBy, updatedAt };
  }

  /**
   * Saves over `expectedVersion`, or throws 409 when someone saved since. FerretDB has no atomic
   * version-filtered update, so the move to the next version is claimed by inserting its unique id first.
   */
  async save(
    policy: SsoPolicy,
    expectedVersion: number,
    updatedBy: string,
  ): Promise<{ before: StoredSsoPolicy; after: StoredSsoPolicy }> {
    const before = await this.current();
    if (before.version !== expectedVersion) throw stalePolicy(before.version);
    const next = expectedVersion + 1;
    if (!(await this.claim(next))) throw stalePolicy((await this.current()).version);
    try {
      await this.models.policy.updateOne(
        { _id: POLICY_ID },
        { $set: { ...policy, version: next, updatedBy } },
        { upsert: true },
      );
    } catch (error) {
      await this.claims.deleteOne({ _id: `${POLICY_ID}@${next}` });
      throw error;
    }
    return { before, after: await this.current() };
  }

  private async claim(version: number): Promise<boolean> {
    const id = `${POLICY_ID}@${version}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.claims.create({ _id: id, at: new Date() });
        // A claim taken over below may have guarded a write that did land after all: look once more.
        return attempt === 0 || (await this.current()).version < version;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const held = await this.claims.findById(id).lean<ClaimDoc>();
      if (held && Date.now() - new Date(held.at).getTime() < ABANDONED_CLAIM_MS) return false;
      if ((await this.current()).version >= version) return false;
      await this.claims.deleteOne({ _id: id, ...(held ? { at: held.at } : {}) });
    }
    return false;
  }
}
