import { modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import type { CompliancePlatform } from '../versions.js';
import type { DeviceFactsDoc } from './compliance-records.js';

/**
 * What a device last reported about its OS by declarative status (ddm.statusChanged), one document per device in
 * compliance_ddm_reports. Its own collection, because the command.result role writes compliance_reports and two
 * roles updating one document lose updates on FerretDB: this record is written only by the ddm.statusChanged role
 * (and deleted when the device leaves or enrolls again).
 */
export interface DdmFactsDoc extends DeviceFactsDoc {
  /** The enrollment that reported it: a new enrollment drops the facts of the old one. */
  enrollmentId?: string;
}

/** ddm.statusChanged's role. */
export interface DdmReports {
  recordDdmReport(report: DdmFactsDoc): Promise<void>;
  ddmReports(deviceIds: readonly string[]): Promise<DdmFactsDoc[]>;
  ddmBelow(
    conditions: readonly { platform: CompliancePlatform; osVersionKey: number }[],
    limit: number,
  ): Promise<DdmFactsDoc[]>;
  /** Drops the device's facts, except those of `keepEnrollment` (a late event must not erase a new enrollment's). */
  forgetDdm(deviceId: string, keepEnrollment?: string): Promise<void>;
}

const ddmFactsSchema = new Schema<DdmFactsDoc>(
  {
    _id: { type: String, required: true },
    udid: { type: String, required: true },
    enrollmentId: { type: String },
    platform: { type: String },
    productName: { type: String },
    osVersion: { type: String },
    osVersionKey: { type: Number },
    reportedAt: { type: Date },
  },
  { collection: 'compliance_ddm_reports', versionKey: false },
);
ddmFactsSchema.index({ platform: 1, osVersionKey: 1 });

export class MongoDdmReports implements DdmReports {
  private readonly model: Model<DdmFactsDoc>;

  constructor(connection: Connection) {
    this.model = modelOn<DdmFactsDoc>(connection, 'ComplianceDdmReport', ddmFactsSchema);
  }

  async prepare(): Promise<void> {
    await this.model.createIndexes();
  }

  async recordDdmReport(report: DdmFactsDoc): Promise<void> {
    const { _id, ...fields } = report;
    await this.model.replaceOne({ _id }, fields, { upsert: true });
  }

  ddmReports(deviceIds: readonly string[]): Promise<DdmFactsDoc[]> {
    return this.model
      .find({ _id: { $in: [...deviceIds] } })
      .lean<DdmFactsDoc[]>()
      .exec();
  }

  async ddmBelow(
    conditions: readonly { platform: CompliancePlatform; osVersionKey: number }[],
    limit: number,
  ): Promise<DdmFactsDoc[]> {
    if (conditions.length === 0) return [];
    return this.model
      .find({ $or: conditions.map((c) => ({ platform: c.platform, osVersionKey: { $lt: c.osVersionKey } })) })
      .sort({ osVersionKey: 1, _id: 1 })
      .limit(limit)
      .lean<DdmFactsDoc[]>()
      .exec();
  }

  async forgetDdm(deviceId: string, keepEnrollment?: string): Promise<void> {
    await this.model.deleteOne(
      keepEnrollment ? { _id: deviceId, enrollmentId: { $ne: keepEnrollment } } : { _id: deviceId },
    );
  }
}
