import type { AuditEntry, AuditLog } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

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

/** Append-only audit entries in MongoDB: who, what, when, before and after. */
export class MongoAuditLog implements AuditLog {
  private readonly model: Model<AuditDocument>;
  constructor(connection: Connection) {
    this.model =
      (connection.models.AuditEntry as Model<AuditDocument>) ??
      connection.model<AuditDocument>('AuditEntry', auditSchema);
  }

  async record(entry: AuditEntry): Promise<void> {
    await this.model.create({ ...entry, at: new Date() });
  }

  async ensureIndexes(): Promise<void> {
    await this.model.init();
  }
}
