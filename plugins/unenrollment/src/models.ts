import type {
  Unenrollment,
  UnenrollmentActor,
  UnenrollmentState,
  UnenrollmentStepState,
  UnenrollmentTrigger,
} from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * Where a step runs. 'cancel' clears what was still queued before the removals go out; 'remove-item' steps go
 * out together and are answered before 'remove-mdm' (the enrollment profile) is sent; 'server' steps run after.
 */
export type StepKind = 'cancel' | 'remove-item' | 'remove-mdm' | 'server';

export type ServerStep =
  | 'revoke-certificates'
  | 'clear-command-queue'
  | 'erase-secrets'
  | 'mark-retired'
  | 'audit-record'
  | 'announce';
export const SERVER_STEPS: readonly ServerStep[] = [
  'revoke-certificates',
  'clear-command-queue',
  'erase-secrets',
  'mark-retired',
  'audit-record',
  'announce',
];

export interface StepDoc {
  name: string;
  kind: StepKind;
  state: UnenrollmentStepState;
  /** RemoveApplication or RemoveProfile, for remote steps. */
  requestType?: 'RemoveApplication' | 'RemoveProfile';
  /** Bundle id or PayloadIdentifier. */
  identifier?: string;
  displayName?: string;
  /** Which plugin said it installed the item. */
  source?: string;
  commandUuid?: string;
  detail?: string;
  /** What the step removed (server steps), for the audit record. */
  removed?: string[];
  attempts: number;
  updatedAt: Date;
}

export interface RequestDoc {
  trigger: UnenrollmentTrigger;
  requestedBy: UnenrollmentActor;
  at: Date;
}

/**
 * A request that joined an unenrollment, in its own collection: the unenrollment document has one writer (the
 * job), because FerretDB applies an update by rewriting the whole document, so two writers lose each other's
 * changes. The _id "<unenrollmentId>|<trigger>|<actor kind>|<actor id>" makes a repeated click a no-op insert.
 */
export interface JoinedRequestDoc extends RequestDoc {
  _id: string;
  unenrollmentId: string;
}

/**
 * One unenrollment of one enrollment of a device. The _id "<deviceId>:<enrollmentId>" is the idempotency key:
 * concurrent requests for the same enrollment insert the same _id and all but one get the duplicate-key error
 * (a unique insert is atomic on MongoDB and FerretDB alike), while a later re-enrollment gets a new one.
 */
export interface UnenrollmentDoc {
  _id: string;
  deviceId: string;
  udid: string;
  userId?: string;
  enrollmentId?: string;
  trigger: UnenrollmentTrigger;
  requestedBy: UnenrollmentActor;
  state: UnenrollmentState;
  steps: StepDoc[];
  /** Set when the device had checked out before it started; a CheckOut later is a joined request. */
  checkedOutAt?: Date;
  /** Deadlines of the two groups of remote commands, fixed when a group is first sent (so a resume keeps them). */
  itemsDeadline?: Date;
  mdmDeadline?: Date;
  startedAt: Date;
  completedAt?: Date;
  updatedAt: Date;
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

/**
 * A side effect outside this plugin's documents (the audit record), claimed by a unique _id before it is made
 * and marked when it is made, so a step repeated after a crash can tell it already happened.
 */
export interface EffectClaimDoc {
  _id: string;
  state: 'started' | 'done';
  at: Date;
}

const claimSchema = new Schema<EffectClaimDoc>(
  {
    _id: { type: String, required: true },
    state: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'unenrollment_effects', versionKey: false },
);

export interface UnenrollmentModels {
  unenrollments: Model<UnenrollmentDoc>;
  requests: Model<JoinedRequestDoc>;
  effects: Model<EffectClaimDoc>;
}

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function unenrollmentModels(connection: Connection): UnenrollmentModels {
  return {
    unenrollments: model(connection, 'Unenrollment', unenrollmentSchema),
    requests: model(connection, 'UnenrollmentRequest', requestSchema),
    effects: model(connection, 'UnenrollmentEffect', claimSchema),
  };
}

export const requestId = (unenrollmentId: string, r: RequestDoc) =>
  [unenrollmentId, r.trigger, r.requestedBy.kind, r.requestedBy.id].join('|');

/**
 * Claims a side effect: 'first' the first time, 'done' when it was made before, 'unconfirmed' when an earlier
 * attempt claimed it and stopped before it could say whether it was made (a crash mid-call).
 */
export async function claimEffect(models: UnenrollmentModels, id: string): Promise<'first' | 'done' | 'unconfirmed'> {
  try {
    await models.effects.create({ _id: id, state: 'started', at: new Date() });
    return 'first';
  } catch (error) {
    if ((error as { code?: number }).code !== 11000) throw error;
    const existing = await models.effects.findById(id).lean<EffectClaimDoc>();
    return existing?.state === 'done' ? 'done' : 'unconfirmed';
  }
}

export async function effectMade(models: UnenrollmentModels, id: string): Promise<void> {
  await models.effects.updateOne({ _id: id }, { $set: { state: 'done', at: new Date() } });
}

/** Records a request once; false when the same one was already recorded (a double click). */
export async function recordRequest(
  models: UnenrollmentModels,
  unenrollmentId: string,
  r: RequestDoc,
): Promise<boolean> {
  try {
    await models.requests.create({ _id: requestId(unenrollmentId, r), unenrollmentId, ...r });
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === 11000) return false;
    throw error;
  }
}

export async function requestsOf(
  models: UnenrollmentModels,
  ids: readonly string[],
): Promise<Map<string, RequestDoc[]>> {
  const docs = await models.requests
    .find({ unenrollmentId: { $in: ids } })
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

export const FINAL_STEP_STATES: readonly UnenrollmentStepState[] = ['done', 'skipped', 'failed', 'timed-out'];
export const isFinal = (step: Pick<StepDoc, 'state' | 'kind'>) =>
  // A failed server step is retried; a failed remote step is the device's answer and stands.
  step.kind === 'server' ? step.state === 'done' || step.state === 'skipped' : FINAL_STEP_STATES.includes(step.state);

export function toUnenrollment(doc: UnenrollmentDoc, requests: readonly RequestDoc[]): Unenrollment {
  return {
    deviceId: doc.deviceId,
    udid: doc.udid,
    userId: doc.userId,
    enrollmentId: doc.enrollmentId,
    trigger: doc.trigger,
    requestedBy: doc.requestedBy,
    requests: requests.map((r) => ({ trigger: r.trigger, requestedBy: r.requestedBy, at: r.at })),
    state: doc.state,
    steps: doc.steps.map((s) => ({
      name: s.name,
      state: s.state,
      commandUuid: s.commandUuid,
      detail: s.detail,
      attempts: s.attempts,
      updatedAt: s.updatedAt,
    })),
    startedAt: doc.startedAt,
    completedAt: doc.completedAt,
  };
}
