import { type Connection, type Model, Schema } from 'mongoose';
import { type CompliancePolicy, compliancePolicySchema } from './policy.js';
import type { CompliancePlatform } from './versions.js';

/** What a device last reported about its OS, and when the gateway last asked. */
export interface DeviceFactsDoc {
  _id: string;
  udid: string;
  platform?: CompliancePlatform;
  productName?: string;
  osVersion?: string;
  /** versionKey(osVersion): lets MongoDB find devices below a minimum. */
  osVersionKey?: number;
  reportedAt?: Date;
  requestedAt?: Date;
  /** Our DeviceInformation still unanswered: no new one is queued behind it. */
  pendingCommandUuid?: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface PolicyDoc extends CompliancePolicy {
  _id: string;
  version: number;
  updatedBy: string;
  updatedAt: Date;
}

const factsSchema = new Schema<DeviceFactsDoc>(
  {
    _id: { type: String, required: true },
    udid: { type: String, required: true },
    platform: { type: String },
    productName: { type: String },
    osVersion: { type: String },
    osVersionKey: { type: Number },
    reportedAt: { type: Date },
    requestedAt: { type: Date },
    pendingCommandUuid: { type: String },
  },
  { collection: 'compliance_devices', timestamps: true, versionKey: false },
);
factsSchema.index({ platform: 1, osVersionKey: 1 });
factsSchema.index({ requestedAt: 1 });

const policySchema = new Schema<PolicyDoc>(
  {
    _id: { type: String, required: true },
    minimumIosVersion: { type: String, default: null },
    minimumIpadosVersion: { type: String, default: null },
    blockEnrollmentWhenNonCompliant: { type: Boolean, required: true },
    version: { type: Number, required: true },
    updatedBy: { type: String, required: true },
  },
  { collection: 'compliance_policy', timestamps: { createdAt: false, updatedAt: true }, versionKey: false },
);

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function complianceModels(connection: Connection) {
  return {
    devices: model(connection, 'ComplianceDevice', factsSchema),
    policy: model(connection, 'CompliancePolicy', policySchema),
  };
}
export type ComplianceModels = ReturnType<typeof complianceModels>;

const POLICY_ID = 'default';

export interface StoredPolicy {
  policy: CompliancePolicy;
  /** 0 while the config's defaults apply (no admin has saved a policy). */
  version: number;
  updatedBy?: string;
  updatedAt?: Date;
}

/** One policy document, falling back to the config until an admin saves one. */
export class PolicyStore {
  constructor(
    private readonly models: ComplianceModels,
    private readonly defaults: () => CompliancePolicy,
  ) {}

  async current(): Promise<StoredPolicy> {
    const doc = await this.models.policy.findById(POLICY_ID).lean<PolicyDoc>();
    if (!doc) return { policy: this.defaults(), version: 0 };
    const { _id, version, updatedBy, updatedAt, ...fields } = doc;
    // A document edited by hand must not turn into a policy the API would have refused.
    return { policy: compliancePolicySchema.parse(fields), version, updatedBy, updatedAt };
  }

  async save(policy: CompliancePolicy, updatedBy: string): Promise<StoredPolicy> {
    const before = await this.current();
    await this.models.policy.updateOne(
      { _id: POLICY_ID },
      { $set: { ...policy, version: before.version + 1, updatedBy } },
      { upsert: true },
    );
    return this.current();
  }
}
