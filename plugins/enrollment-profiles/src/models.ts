import type { EnrollmentType } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

export interface Assignments {
  allUsers: boolean;
  includedGroups: string[];
  excludedGroups: string[];
}

/** A profile has no priority field: its priority is its position in the ordering document. */
export interface ProfileDoc {
  _id: string;
  name: string;
  /** Case-folded name; its unique index makes names unique regardless of case. */
  nameKey: string;
  description: string;
  enrollmentType: EnrollmentType;
  assignments: Assignments;
  /** Optimistic-concurrency version of this profile's own fields. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * One entry of the append-only change log. Its `_id` is a sequence number: appending entry n+1
 * is an insert that only one writer can win (unique key), which is atomic on MongoDB and on
 * FerretDB alike, unlike a conditional update. The newest entry holds the current profile order
 * and its `orderVersion`; its `_id` is the revision every replica's cache is compared against.
 */
export interface ChangeDoc {
  _id: number;
  /** Grows on reorders, creates and deletes: what a client's reorder must name to succeed. */
  orderVersion: number;
  ids: string[];
  kind: string;
  target?: string;
  at: Date;
}

/** A claim on the next version of one profile or policy ("profile:<id>@<version>"); unique. */
export interface VersionClaimDoc {
  _id: string;
  at: Date;
}

export interface LimitPolicyDoc {
  _id: string;
  name: string;
  nameKey: string;
  groups: string[];
  limit: number;
  /** Lower wins; unique. */
  priority: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The state before the first change. */
export const EMPTY_CHANGE: ChangeDoc = { _id: 0, orderVersion: 0, ids: [], kind: 'initial', at: new Date(0) };

const assignmentsSchema = new Schema<Assignments>(
  {
    allUsers: { type: Boolean, required: true },
    includedGroups: { type: [String], default: [] },
    excludedGroups: { type: [String], default: [] },
  },
  { _id: false },
);

const profileSchema = new Schema<ProfileDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    nameKey: { type: String, required: true, unique: true },
    description: { type: String, default: '' },
    enrollmentType: { type: String, enum: ['web-based', 'app-based'], required: true },
    assignments: { type: assignmentsSchema, required: true },
    version: { type: Number, required: true },
  },
  { collection: 'enrollment_profiles', timestamps: true, versionKey: false },
);

const changeSchema = new Schema<ChangeDoc>(
  {
    _id: { type: Number, required: true },
    orderVersion: { type: Number, required: true },
    ids: { type: [String], default: [] },
    kind: { type: String, required: true },
    target: String,
    at: { type: Date, required: true },
  },
  { collection: 'enrollment_profile_changes', versionKey: false },
);

const claimSchema = new Schema<VersionClaimDoc>(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { collection: 'enrollment_profile_version_claims', versionKey: false },
);

const limitPolicySchema = new Schema<LimitPolicyDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    nameKey: { type: String, required: true, unique: true },
    groups: { type: [String], required: true },
    limit: { type: Number, required: true },
    priority: { type: Number, required: true, unique: true },
    version: { type: Number, required: true },
  },
  { collection: 'enrollment_device_limit_policies', timestamps: true, versionKey: false },
);

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function enrollmentModels(connection: Connection) {
  return {
    profiles: model(connection, 'EnrollmentProfile', profileSchema),
    changes: model(connection, 'EnrollmentProfileChange', changeSchema),
    claims: model(connection, 'EnrollmentVersionClaim', claimSchema),
    limitPolicies: model(connection, 'EnrollmentDeviceLimitPolicy', limitPolicySchema),
  };
}

export type EnrollmentModels = ReturnType<typeof enrollmentModels>;

export async function ensureIndexes(models: EnrollmentModels): Promise<void> {
  await Promise.all([models.profiles.init(), models.changes.init(), models.claims.init(), models.limitPolicies.init()]);
}

/** MongoDB says E11000; FerretDB reports some unique violations (in updates) only in the message. */
export { isDuplicateKeyError as isDuplicateKey } from 'enrollment-gateway/sdk';
