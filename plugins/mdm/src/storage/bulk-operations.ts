import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * Bulk command operations: one request queues (or cancels) a command on many devices. One writer per record:
 * the operation is inserted once by the request that runs it, and each device's outcome is its own inserted
 * document (`<operation>:<device>`), never an update of the operation, so nothing is lost when FerretDB applies
 * concurrent updates of one document as read-change-write. Progress is read by counting outcomes and asking the
 * command queue where each command stands.
 */

export type BulkKind = 'enqueue' | 'cancel';
/** queued: new on the device's queue; already-queued: the CommandUUID was there; not-managed: skipped. */
export type BulkOutcome = 'queued' | 'already-queued' | 'not-managed' | 'cancelled' | 'not-waiting';

export interface BulkTargetSummary {
  kind: 'devices' | 'filter' | 'group';
  /** The filter or group as given (device lists are in the outcomes). */
  detail?: Record<string, unknown>;
}

export interface BulkOperationDoc {
  _id: string;
  kind: BulkKind;
  requestType: string;
  commandUuid: string;
  /** For a cancel: the operation whose command it cancels, when it named one. */
  cancels?: string;
  target: BulkTargetSummary;
  actor: { id: string; displayName: string };
  total: number;
  createdAt: Date;
}

export interface BulkOutcomeDoc {
  _id: string;
  operationId: string;
  deviceId: string;
  outcome: BulkOutcome;
  at: Date;
}

/** The bulk request's role: inserts its operation once and each device's outcome once. */
export interface BulkOperationWriter {
  create(operation: BulkOperationDoc): Promise<void>;
  recordOutcomes(operationId: string, outcomes: readonly { deviceId: string; outcome: BulkOutcome }[]): Promise<void>;
}

export interface BulkOperationReader {
  get(operationId: string): Promise<BulkOperationDoc | undefined>;
  /** Newest first, before `cursor` (an operation's createdAt and id). */
  list(limit: number, before?: { createdAt: Date; id: string }): Promise<BulkOperationDoc[]>;
  outcomes(operationId: string): Promise<BulkOutcomeDoc[]>;
}

export type BulkOperationStorage = BulkOperationWriter & BulkOperationReader;

const operationSchema = new Schema<BulkOperationDoc>(
  {
    _id: { type: String, required: true },
    kind: { type: String, required: true },
    requestType: { type: String, required: true },
    commandUuid: { type: String, required: true },
    cancels: String,
    target: { type: Schema.Types.Mixed, required: true },
    actor: { type: Schema.Types.Mixed, required: true },
    total: { type: Number, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'mdm_bulk_operations', versionKey: false },
);
operationSchema.index({ createdAt: -1, _id: -1 });

const outcomeSchema = new Schema<BulkOutcomeDoc>(
  {
    _id: { type: String, required: true },
    operationId: { type: String, required: true },
    deviceId: { type: String, required: true },
    outcome: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'mdm_bulk_outcomes', versionKey: false },
);
outcomeSchema.index({ operationId: 1 });

export class MongoBulkOperations implements BulkOperationStorage {
  private readonly operations: Model<BulkOperationDoc>;
  private readonly outcomeDocs: Model<BulkOutcomeDoc>;

  constructor(connection: Connection) {
    this.operations = modelOn(connection, 'MdmBulkOperation', operationSchema);
    this.outcomeDocs = modelOn(connection, 'MdmBulkOutcome', outcomeSchema);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.operations.createIndexes(), this.outcomeDocs.createIndexes()]);
  }

  async create(operation: BulkOperationDoc): Promise<void> {
    await this.operations.collection.insertOne(operation as never);
  }

  async recordOutcomes(
    operationId: string,
    outcomes: readonly { deviceId: string; outcome: BulkOutcome }[],
  ): Promise<void> {
    if (outcomes.length === 0) return;
    const at = new Date();
    const docs = outcomes.map(({ deviceId, outcome }) => ({
      _id: `${operationId}:${deviceId}`,
      operationId,
      deviceId,
      outcome,
      at,
    }));
    try {
      // A retried request inserts the same outcomes again: the first of each stands.
      await this.outcomeDocs.insertMany(docs, { ordered: false });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  async get(operationId: string): Promise<BulkOperationDoc | undefined> {
    return (await this.operations.findById(operationId).lean<BulkOperationDoc>()) ?? undefined;
  }

  async list(limit: number, before?: { createdAt: Date; id: string }): Promise<BulkOperationDoc[]> {
    const filter = before
      ? {
          $or: [{ createdAt: { $lt: before.createdAt } }, { createdAt: before.createdAt, _id: { $lt: before.id } }],
        }
      : {};
    return this.operations.find(filter).sort({ createdAt: -1, _id: -1 }).limit(limit).lean<BulkOperationDoc[]>();
  }

  async outcomes(operationId: string): Promise<BulkOutcomeDoc[]> {
    return this.outcomeDocs.find({ operationId }).lean<BulkOutcomeDoc[]>();
  }
}
