import { bulkWriteInChunks, isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, Schema } from 'mongoose';
import { type CompliancePolicy, compliancePolicySchema } from '../policy.js';
import type { CompliancePlatform } from '../versions.js';

/**
 * A device's compliance data is three records, each with one writer, because FerretDB applies an update by
 * rewriting the whole document and two concurrent updates of one document lose one of them (the refresh job
 * marking a request while the device's answer was being stored lost one or the other):
 * - the request (compliance_devices): the devices this plugin follows and when it last asked; written by the
 *   asking roles (device.enrolled, the refresh job, the admin's refresh) and deleted when the device leaves;
 * - the report (compliance_reports): what the device last reported; written only on command.result;
 * - the answer (compliance_answers, per command): inserted on command.result, so the asker sees its question answered.
 */
export interface DeviceRequestDoc {
  _id: string;
  udid: string;
  requestedAt?: Date;
  /** Our DeviceInformation; no new one is queued behind it until compliance_answers holds its answer. */
  pendingCommandUuid?: string;
  /** The device.enrolled event that registered the device: a repeat delivery of it resets nothing. */
  enrolledBy?: string;
}

/** What a device last reported about its OS. */
export interface DeviceFactsDoc {
  _id: string;
  udid: string;
  platform?: CompliancePlatform;
  productName?: string;
  osVersion?: string;
  /** versionKey(osVersion): lets MongoDB find devices below a minimum. */
  osVersionKey?: number;
  reportedAt?: Date;
}

interface AnswerDoc {
  _id: string;
  deviceId: string;
  at: Date;
}

/** The asking roles. */
export interface DeviceRequests {
  /** Follows the device afresh (a new enrollment: nothing of ours is queued any more). */
  register(deviceId: string, udid: string, enrolledBy: string): Promise<void>;
  asked(requests: readonly { deviceId: string; commandUuid: string }[], at: Date): Promise<void>;
  /** Moves the devices' turn in the refresh without asking them (they report by declarative status). */
  postpone(deviceIds: readonly string[], at: Date): Promise<void>;
  request(deviceId: string): Promise<DeviceRequestDoc | undefined>;
  /** Devices not asked since `cutoff`, least recently asked first, whose last question (if any) was answered. */
  due(cutoff: Date, limit: number): Promise<string[]>;
  forget(deviceId: string): Promise<void>;
}

/** command.result's role. */
export interface DeviceReports {
  recordAnswer(deviceId: string, commandUuid: string): Promise<void>;
  recordReport(report: DeviceFactsDoc): Promise<void>;
  reports(deviceIds: readonly string[]): Promise<DeviceFactsDoc[]>;
  below(
    conditions: readonly { platform: CompliancePlatform; osVersionKey: number }[],
    limit: number,
  ): Promise<DeviceFactsDoc[]>;
  forget(deviceId: string): Promise<void>;
}

export interface PolicyDoc extends CompliancePolicy {
  _id: string;
  version: number;
  updatedBy: string;
  updatedAt: Date;
}

const requestSchema = new Schema<DeviceRequestDoc>(
  {
    _id: { type: String, required: true },
    udid: { type: String, required: true },
    requestedAt: { type: Date },
    pendingCommandUuid: { type: String },
    enrolledBy: { type: String },
  },
  { collection: 'compliance_devices', versionKey: false, strict: false },
);
requestSchema.index({ requestedAt: 1 });

const factsSchema = new Schema<DeviceFactsDoc>(
  {
    _id: { type: String, required: true },
    udid: { type: String, required: true },
    platform: { type: String },
    productName: { type: String },
    osVersion: { type: String },
    osVersionKey: { type: Number },
    reportedAt: { type: Date },
  },
  { collection: 'compliance_reports', versionKey: false },
);
factsSchema.index({ platform: 1, osVersionKey: 1 });

const answerSchema = new Schema<AnswerDoc>(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'compliance_answers', versionKey: false },
);
answerSchema.index({ deviceId: 1 });

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

export function complianceModels(connection: Connection) {
  return {
    requests: modelOn(connection, 'ComplianceDevice', requestSchema),
    reports: modelOn(connection, 'ComplianceReport', factsSchema),
    answers: modelOn(connection, 'ComplianceAnswer', answerSchema),
    policy: modelOn(connection, 'CompliancePolicy', policySchema),
  };
}
export type ComplianceModels = ReturnType<typeof complianceModels>;

const PAGE = 500;

export class MongoDeviceRecords implements DeviceRequests, DeviceReports {
  constructor(private readonly models: ComplianceModels) {}

  /**
   * Indexes, and (once per device, idempotent) the reports of devices stored before reports had their own
   * records: copied from the old request document, which kept them.
   */
  async prepare(): Promise<void> {
    const { requests, reports, answers, policy } = this.models;
    await Promise.all([
      requests.createIndexes(),
      reports.createIndexes(),
      answers.createIndexes(),
      policy.createIndexes(),
    ]);
    const legacy = this.models.requests.collection.find({ osVersion: { $exists: true } });
    for await (const doc of legacy) {
      const fields = ['_id', 'udid', 'platform', 'productName', 'osVersion', 'osVersionKey', 'reportedAt'];
      const report = Object.fromEntries(fields.flatMap((key) => (doc[key] == null ? [] : [[key, doc[key]]])));
      try {
        await this.models.reports.create(report);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
    }
  }

  async register(deviceId: string, udid: string, enrolledBy: string): Promise<void> {
    await this.models.requests.replaceOne({ _id: deviceId }, { udid, enrolledBy }, { upsert: true });
  }

  async asked(requests: readonly { deviceId: string; commandUuid: string }[], at: Date): Promise<void> {
    if (requests.length === 0) return;
    await bulkWriteInChunks(
      requests.map((r) => ({
        updateOne: {
          filter: { _id: r.deviceId },
          update: { $set: { requestedAt: at, pendingCommandUuid: r.commandUuid } },
        },
      })),
      (chunk) => this.models.requests.bulkWrite(chunk),
    );
    // The answers to earlier questions have served; the new one's may already be in (a quick device), so it stays.
    await this.models.answers.deleteMany({
      deviceId: { $in: requests.map((r) => r.deviceId) },
      _id: { $nin: requests.map((r) => r.commandUuid) },
    });
  }

  async postpone(deviceIds: readonly string[], at: Date): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.models.requests.updateMany({ _id: { $in: [...deviceIds] } }, { $set: { requestedAt: at } });
  }

  async request(deviceId: string): Promise<DeviceRequestDoc | undefined> {
    return (await this.models.requests.findById(deviceId).lean<DeviceRequestDoc>()) ?? undefined;
  }

  async due(cutoff: Date, limit: number): Promise<string[]> {
    const due: string[] = [];
    let skip = 0;
    // Devices whose question is unanswered are skipped here, not in the query: their answer is another record.
    while (due.length < limit) {
      const page = await this.models.requests
        .find(
          { $or: [{ requestedAt: { $lt: cutoff } }, { requestedAt: { $exists: false } }] },
          { pendingCommandUuid: 1 },
        )
        .sort({ requestedAt: 1, _id: 1 })
        .skip(skip)
        .limit(PAGE)
        .lean<Pick<DeviceRequestDoc, '_id' | 'pendingCommandUuid'>[]>();
      const asked = page.flatMap((doc) => (doc.pendingCommandUuid ? [doc.pendingCommandUuid] : []));
      const answered = new Set(
        (await this.models.answers.find({ _id: { $in: asked } }, { _id: 1 }).lean<{ _id: string }[]>()).map(
          (a) => a._id,
        ),
      );
      for (const doc of page) if (!doc.pendingCommandUuid || answered.has(doc.pendingCommandUuid)) due.push(doc._id);
      if (page.length < PAGE) break;
      skip += PAGE;
    }
    return due.slice(0, limit);
  }

  async recordAnswer(deviceId: string, commandUuid: string): Promise<void> {
    try {
      await this.models.answers.create({ _id: commandUuid, deviceId, at: new Date() });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  async recordReport(report: DeviceFactsDoc): Promise<void> {
    const { _id, ...fields } = report;
    await this.models.reports.replaceOne({ _id }, fields, { upsert: true });
  }

  reports(deviceIds: readonly string[]): Promise<DeviceFactsDoc[]> {
    return this.models.reports
      .find({ _id: { $in: [...deviceIds] } })
      .lean<DeviceFactsDoc[]>()
      .exec();
  }

  async below(
    conditions: readonly { platform: CompliancePlatform; osVersionKey: number }[],
    limit: number,
  ): Promise<DeviceFactsDoc[]> {
    if (conditions.length === 0) return [];
    return this.models.reports
      .find({ $or: conditions.map((c) => ({ platform: c.platform, osVersionKey: { $lt: c.osVersionKey } })) })
      .sort({ osVersionKey: 1, _id: 1 })
      .limit(limit)
      .lean<DeviceFactsDoc[]>()
      .exec();
  }

  async forget(deviceId: string): Promise<void> {
    await Promise.all([
      this.models.requests.deleteOne({ _id: deviceId }),
      this.models.reports.deleteOne({ _id: deviceId }),
      this.models.answers.deleteMany({ deviceId }),
    ]);
  }
}

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
