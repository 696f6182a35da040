import type { JitModels, SsoPolicyDoc } from './models.js';
import { type SsoPolicy, ssoPolicySchema } from './sso-policy.js';

const POLICY_ID = 'default';

export interface StoredSsoPolicy {
  policy: SsoPolicy;
  /** 0 while the defaults from config apply (nothing saved yet). */
  version: number;
  updatedBy?: string;
  updatedAt?: Date;
}

/** The admin-editable SSO settings: one document, falling back to the config defaults until an admin saves. */
export class SsoPolicyStore {
  constructor(
    private readonly models: JitModels,
    private readonly defaults: () => SsoPolicy,
  ) {}

  async current(): Promise<StoredSsoPolicy> {
    const doc = await this.models.policy.findById(POLICY_ID).lean<SsoPolicyDoc>();
    if (!doc) return { policy: this.defaults(), version: 0 };
    const { _id, version, updatedBy, updatedAt, ...fields } = doc;
    // Re-validate what was stored: a document edited by hand must not reach devices with padded values.
    return { policy: ssoPolicySchema.parse(fields), version, updatedBy, updatedAt };
  }

  async save(policy: SsoPolicy, updatedBy: string): Promise<StoredSsoPolicy> {
    const before = await this.current();
    const version = before.version + 1;
    await this.models.policy.updateOne(
      { _id: POLICY_ID },
      { $set: { ...policy, version, updatedBy } },
      { upsert: true },
    );
    return this.current();
  }
}
