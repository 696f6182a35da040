import { bulkWriteInChunks, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * A device's DDM records, each with one writer (FerretDB rewrites a whole document per update, so two writers of
 * one document lose one's change):
 * - the sync state (ddm_devices, one per device): which DeclarationsToken the device last fetched and when;
 *   written only by the declaration-items endpoint, deleted when the device leaves;
 * - the status items (ddm_status_items, one per device and item name): the latest value; written only by the
 *   status endpoint, deleted when the device leaves.
 * Values are JSON text: a device's status may hold keys BSON cannot store ("a.b", "$x").
 */
export interface SyncStateDoc {
  _id: string;
  enrollmentId?: string;
  token: string;
  servedAt: Date;
}

export interface StatusItemDoc {
  _id: string;
  deviceId: string;
  enrollmentId?: string;
  name: string;
  valueJson: string;
  reportedAt: Date;
}

/** The declaration-items endpoint's role. */
export interface SyncStates {
  get(deviceId: string): Promise<SyncStateDoc | undefined>;
  served(state: SyncStateDoc): Promise<void>;
  /** Device ids after `after` (sorted), at most `limit`: the devices a re-sync walks. */
  page(after: string | undefined, limit: number): Promise<string[]>;
  /** Deletes the device's state unless it belongs to `keepEnrollmentId` (the device enrolled again since). */
  forget(deviceId: string, keepEnrollmentId?: string): Promise<void>;
}

/** The status endpoint's role. */
export interface StatusItems {
  of(deviceId: string, names?: readonly string[]): Promise<StatusItemDoc[]>;
  write(docs: readonly StatusItemDoc[]): Promise<void>;
  forget(deviceId: string, keepEnrollmentId?: string): Promise<void>;
}

const syncSchema = new Schema<SyncStateDoc>(
  { _id: String, enrollmentId: String, token: String, servedAt: Date },
  { collection: 'ddm_devices', versionKey: false },
);
const statusSchema = new Schema<StatusItemDoc>(
  { _id: String, deviceId: String, enrollmentId: String, name: String, valueJson: String, reportedAt: Date },
  { collection: 'ddm_status_items', versionKey: false },
);
statusSchema.index({ deviceId: 1 });

export const statusItemId = (deviceId: string, name: string) => `${deviceId}|${name}`;

export class MongoSyncStates implements SyncStates {
  private readonly docs: Model<SyncStateDoc>;
  constructor(mongo: Connection) {
    this.docs = modelOn(mongo, 'DdmSyncState', syncSchema);
  }
  async get(deviceId: string) {
    return (await this.docs.findById(deviceId).lean<SyncStateDoc>()) ?? undefined;
  }
  async served(state: SyncStateDoc) {
    await this.docs.replaceOne({ _id: state._id }, state, { upsert: true });
  }
  async page(after: string | undefined, limit: number) {
    const docs = await this.docs
      .find(after ? { _id: { $gt: after } } : {}, { _id: 1 })
      .sort({ _id: 1 })
      .limit(limit)
      .lean<{ _id: string }[]>();
    return docs.map((d) => d._id);
  }
  async forget(deviceId: string, keepEnrollmentId?: string) {
    await this.docs.deleteOne({
      _id: deviceId,
      ...(keepEnrollmentId ? { enrollmentId: { $ne: keepEnrollmentId } } : {}),
    });
  }
}

export class MongoStatusItems implements StatusItems {
  private readonly docs: Model<StatusItemDoc>;
  constructor(mongo: Connection) {
    this.docs = modelOn(mongo, 'DdmStatusItem', statusSchema);
  }
  async prepare() {
    await this.docs.createIndexes();
  }
  /**
   * One equality filter, which FerretDB hands to PostgreSQL, where an `$in` on `_id` may have it fetch and filter
   * rows itself. A device has a few dozen items: picking the names here is cheap.
   */
  async of(deviceId: string, names?: readonly string[]) {
    const docs = await this.docs.find({ deviceId }).lean<StatusItemDoc[]>();
    const wanted = names ? new Set(names) : undefined;
    return docs
      .filter((d) => !wanted || wanted.has(d.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  async write(docs: readonly StatusItemDoc[]) {
    await bulkWriteInChunks(
      docs.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } })),
      (chunk) => this.docs.bulkWrite(chunk, { ordered: false }),
    );
  }
  async forget(deviceId: string, keepEnrollmentId?: string) {
    await this.docs.deleteMany({ deviceId, ...(keepEnrollmentId ? { enrollmentId: { $ne: keepEnrollmentId } } : {}) });
  }
}
