import { isDuplicateKeyError, modelOn, type UnenrollmentState } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import type { RequestDoc, StepDoc, UnenrollmentDoc } from '../steps.js';

/**
 * The unenrollment's records, behind one small interface per role (docs/architecture.md, "One writer per
 * record"): FerretDB applies an update by rewriting the whole document, so each document has one writing role.
 *
 * - `unenrollments`: a unique insert by whoever asks first (UnenrollmentStarts); from then on only the
 *   unenrollment's own job writes it (UnenrollmentProgress), one BullMQ job id per unenrollment.
 * - `unenrollment_requests`: unique inserts by every asker (JoinedRequests); a repeat is a no-op.
 * - `unenrollment_effects`: the job claims a side effect by a unique insert, then marks its own claim made.
 */

/** The request role: creates an unenrollment once; every later asker joins it. */
export interface UnenrollmentStarts {
  /** False when an unenrollment with this id exists already (someone asked a moment earlier). */
  create(doc: UnenrollmentDoc): Promise<boolean>;
}

/** Readers: the SDK service, the routes, the sweep, the wake-up on command results. */
export interface UnenrollmentReader {
  get(id: string): Promise<UnenrollmentDoc | undefined>;
  /** The device's newest unenrollment. */
  latestOf(deviceId: string): Promise<UnenrollmentDoc | undefined>;
  /** Newest first. */
  list(filter: { state?: UnenrollmentState; limit: number }): Promise<UnenrollmentDoc[]>;
  /** Unenrollments still in progress, of one device or of all. */
  inProgress(deviceId?: string): Promise<{ id: string; deviceId: string }[]>;
}

/** The unenrollment's own job, its only writer after creation. */
export interface UnenrollmentProgress {
  /** Writes one step by position (the list is fixed at creation); undefined fields are removed. */
  setStep(id: string, index: number, patch: Partial<StepDoc>, at: Date, addAttempts: number): Promise<void>;
  setDeadline(id: string, field: 'itemsDeadline' | 'mdmDeadline', deadline: Date): Promise<void>;
  finish(id: string, state: Exclude<UnenrollmentState, 'in-progress'>, at: Date): Promise<void>;
}

/** Every asker: a request joining an unenrollment, recorded once. */
export interface JoinedRequests {
  /** False when the same request was recorded before (a double click). */
  record(unenrollmentId: string, request: RequestDoc): Promise<boolean>;
  /** Oldest first, per unenrollment. */
  of(unenrollmentIds: readonly string[]): Promise<Map<string, RequestDoc[]>>;
  /** When a CheckOut joined the unenrollment, if one did. */
  checkedOutAt(unenrollmentId: string): Promise<Date | undefined>;
}

/**
 * The job: a side effect outside this plugin's records (the audit record), claimed before it is made and marked
 * when it is made, so a step repeated after a crash can tell it already happened.
 */
export interface EffectClaims {
  /** 'first' the first time, 'done' when made before, 'unconfirmed' when a claimant stopped mid-call. */
  claim(id: string): Promise<'first' | 'done' | 'unconfirmed'>;
  made(id: string): Promise<void>;
}

export type UnenrollmentRecords = UnenrollmentStarts &
  UnenrollmentReader &
  UnenrollmentProgress &
  JoinedRequests &
  EffectClaims;

/** A request that joined an unenrollment; the _id "<unenrollmentId>|<trigger>|<actor kind>|<actor id>". */
interface JoinedRequestDoc extends RequestDoc {
  _id: string;
  unenrollmentId: string;
}

interface EffectClaimDoc {
  _id: string;
  state: 'started' | 'done';
  at: Date;
}

const actorSchema = { _id: false, kind: String, id: String, displayName: String };

const stepSchema = new Schema<StepDoc>(
  {
    name: { type: String, required: true },
    kind: { type: String, required: true },
    state: { type: String, required: true },
    requestType: String,
    identifier: String,
    displayName: String,
    source: String,
    commandUuid: String,
    detail: String,
    removed: { type: [String], default: undefined },
    attempts: { type: Number, default: 0 },
    updatedAt: { type: Date, required: true },
  },
  { _id: false },
);

const unenrollmentSchema = new Schema<UnenrollmentDoc>(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true },
    udid: { type: String, required: true },
    userId: String,
    enrollmentId: String,
    trigger: { type: String, required: true },
    requestedBy: actorSchema,
    state: { type: String, required: true },
    steps: { type: [stepSchema], default: [] },
    checkedOutAt: Date,
    itemsDeadline: Date,
    mdmDeadline: Date,
    startedAt: { type: Date, required: true },
    completedAt: Date,
  },
  { collection: 'unenrollments', timestamps: { createdAt: false, updatedAt: true }, versionKey: false },
);
unenrollmentSchema.index({ deviceId: 1, startedAt: -1 });
unenrollmentSchema.index({ state: 1, startedAt: 1 });
unenrollmentSchema.index({ startedAt: -1 });

const requestSchema = new Schema<JoinedRequestDoc>(
  {
    _id: { type: String, required: true },
    unenrollmentId: { type: String, required: true, index: true },
    trigger: { type: String, required: true },
    requestedBy: actorSchema,
    at: { type: Date, required: true },
  },
  { collection: 'unenrollment_requests', versionKey: false },
);

const claimSchema = new Schema<EffectClaimDoc>(
  {
    _id: { type: String, required: true },
    state: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'unenrollment_effects', versionKey: false },
);

const requestIdOf = (unenrollmentId: string, r: RequestDoc) =>
  [unenrollmentId, r.trigger, r.requestedBy.kind, r.requestedBy.id].join('|');

export class MongoUnenrollmentRecords implements UnenrollmentRecords {
  private readonly unenrollments: Model<UnenrollmentDoc>;
  private readonly requests: Model<JoinedRequestDoc>;
  private readonly effects: Model<EffectClaimDoc>;

  constructor(connection: Connection) {
    this.unenrollments = modelOn(connection, 'Unenrollment', unenrollmentSchema);
    this.requests = modelOn(connection, 'UnenrollmentRequest', requestSchema);
    this.effects = modelOn(connection, 'UnenrollmentEffect', claimSchema);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.unenrollments.init(), this.requests.init(), this.effects.init()]);
  }

  async create(doc: UnenrollmentDoc): Promise<boolean> {
    try {
      await this.unenrollments.create(doc);
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async get(id: string): Promise<UnenrollmentDoc | undefined> {
    return (await this.unenrollments.findById(id).lean<UnenrollmentDoc>()) ?? undefined;
  }

  async latestOf(deviceId: string): Promise<UnenrollmentDoc | undefined> {
    return (
      (await this.unenrollments.findOne({ deviceId }).sort({ startedAt: -1 }).lean<UnenrollmentDoc>()) ?? undefined
    );
  }

  list(filter: { state?: UnenrollmentState; limit: number }): Promise<UnenrollmentDoc[]> {
    return this.unenrollments
      .find(filter.state ? { state: filter.state } : {})
      .sort({ startedAt: -1 })
      .limit(filter.limit)
      .lean<UnenrollmentDoc[]>()
      .exec();
  }

  async inProgress(deviceId?: string): Promise<{ id: string; deviceId: string }[]> {
    const docs = await this.unenrollments
      .find({ state: 'in-progress', ...(deviceId ? { deviceId } : {}) }, { _id: 1, deviceId: 1 })
      .lean<{ _id: string; deviceId: string }[]>();
    return docs.map((doc) => ({ id: doc._id, deviceId: doc.deviceId }));
  }

  async setStep(id: string, index: number, patch: Partial<StepDoc>, at: Date, addAttempts: number): Promise<void> {
    const set: Record<string, unknown> = { [`steps.${index}.updatedAt`]: at };
    const unset: Record<string, ''> = {};
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) unset[`steps.${index}.${key}`] = '';
      else set[`steps.${index}.${key}`] = value;
    }
    await this.unenrollments.updateOne(
      { _id: id },
      {
        $set: set,
        ...(Object.keys(unset).length ? { $unset: unset } : {}),
        ...(addAttempts > 0 ? { $inc: { [`steps.${index}.attempts`]: addAttempts } } : {}),
      },
    );
  }

  async setDeadline(id: string, field: 'itemsDeadline' | 'mdmDeadline', deadline: Date): Promise<void> {
    await this.unenrollments.updateOne({ _id: id }, { $set: { [field]: deadline } });
  }

  async finish(id: string, state: Exclude<UnenrollmentState, 'in-progress'>, at: Date): Promise<void> {
    await this.unenrollments.updateOne({ _id: id, state: 'in-progress' }, { $set: { state, completedAt: at } });
  }

  async record(unenrollmentId: string, request: RequestDoc): Promise<boolean> {
    try {
      await this.requests.create({ _id: requestIdOf(unenrollmentId, request), unenrollmentId, ...request });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async of(unenrollmentIds: readonly string[]): Promise<Map<string, RequestDoc[]>> {
    const docs = await this.requests
      .find({ unenrollmentId: { $in: unenrollmentIds } })
      .sort({ at: 1 })
      .lean<JoinedRequestDoc[]>();
    const out = new Map<string, RequestDoc[]>();
    for (const d of docs) {
      const list = out.get(d.unenrollmentId) ?? [];
      list.push({ trigger: d.trigger, requestedBy: d.requestedBy, at: d.at });
      out.set(d.unenrollmentId, list);
    }
    return out;
  }

  async checkedOutAt(unenrollmentId: string): Promise<Date | undefined> {
    const checkout = await this.requests
      .findOne({ unenrollmentId, trigger: 'checkout' }, { at: 1 })
      .lean<{ at: Date }>();
    return checkout?.at;
  }

  async claim(id: string): Promise<'first' | 'done' | 'unconfirmed'> {
    try {
      await this.effects.create({ _id: id, state: 'started', at: new Date() });
      return 'first';
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const existing = await this.effects.findById(id).lean<EffectClaimDoc>();
      return existing?.state === 'done' ? 'done' : 'unconfirmed';
    }
  }

  async made(id: string): Promise<void> {
    await this.effects.updateOne({ _id: id }, { $set: { state: 'done', at: new Date() } });
  }
}
