import type { AuditEntry, AuditLog } from 'enrollment-gateway/sdk';
import { modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema, Types } from 'mongoose';

interface AuditDocument extends AuditEntry {
  at: Date;
}

const auditSchema = new Schema<AuditDocument>(
  {
    at: { type: Date, required: true },
    actor: { id: String, kind: String, displayName: String },
    action: { type: String, required: true },
    target: { type: { type: String }, id: String },
    before: Schema.Types.Mixed,
    after: Schema.Types.Mixed,
    requestId: String,
  },
  { collection: 'audit_log', versionKey: false, minimize: false },
);
auditSchema.index({ at: -1 });
auditSchema.index({ 'target.type': 1, 'target.id': 1, at: -1 });

export interface AuditQuery {
  action?: string;
  /** `action` names a prefix ("apns.") rather than one action. */
  actionPrefix?: boolean;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  /** The id of the last entry of the previous page. */
  before?: string;
  limit: number;
}

export type StoredAuditEntry = AuditEntry & { id: string; at: Date };

/** The readers' role: pages of entries, newest first. */
export interface AuditEntries {
  page(query: AuditQuery): Promise<StoredAuditEntry[]>;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Append-only audit entries in MongoDB (insert only, so every writer is safe): who, what, when, before, after. */
export class MongoAuditLog implements AuditLog, AuditEntries {
  private readonly model: Model<AuditDocument>;
  constructor(connection: Connection) {
    this.model = modelOn<AuditDocument>(connection, 'AuditEntry', auditSchema);
  }

  async record(entry: AuditEntry): Promise<void> {
    await this.model.create({ ...entry, at: new Date() });
  }

  async page(query: AuditQuery): Promise<StoredAuditEntry[]> {
    const filter: Record<string, unknown> = {};
    if (query.action) {
      filter.action = query.actionPrefix ? { $regex: `^${escapeRegex(query.action)}` } : query.action;
    }
    if (query.actorId) filter['actor.id'] = query.actorId;
    if (query.targetType) filter['target.type'] = query.targetType;
    if (query.targetType && query.targetId) filter['target.id'] = query.targetId;
    if (query.before) filter._id = { $lt: new Types.ObjectId(query.before) };
    const docs = await this.model
      .find(filter)
      .sort({ _id: -1 })
      .limit(query.limit)
      .lean<(AuditDocument & { _id: Types.ObjectId })[]>();
    return docs.map(({ _id, ...entry }) => ({ id: String(_id), ...entry }));
  }

  async ensureIndexes(): Promise<void> {
    await this.model.init();
  }
}
