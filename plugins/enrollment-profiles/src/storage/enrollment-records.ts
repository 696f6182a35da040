import { type EnrollmentType, isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
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
    enrollmentType: { type: String, enum: ['web-based', 'app-based', 'account-driven'], required: true },
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

/**
 * The plugin's records, behind one small interface per role (docs/architecture.md, "One writer per record").
 * Every writer is an admin request; what keeps two of them apart on a database that applies an update as
 * read-change-write (FerretDB) is that each change first wins a unique insert: the next change-log entry, or
 * the claim of an entity's next version. So each profile or policy document has one writer per version.
 */

/** A unique field another record already holds. */
export type DuplicateOf = 'name' | 'priority';

/** Profile documents (their order lives in the change log). */
export interface ProfileRecords {
  allProfiles(): Promise<ProfileDoc[]>;
  profile(id: string): Promise<ProfileDoc | undefined>;
  /** 'duplicate' when the name (case-folded) is taken. */
  insertProfile(doc: Omit<ProfileDoc, 'createdAt' | 'updatedAt'>): Promise<ProfileDoc | 'duplicate'>;
  /** Only under the claim of `set.version`; 'duplicate' when a new name is taken, undefined when gone. */
  updateProfile(id: string, set: Partial<ProfileDoc>): Promise<ProfileDoc | 'duplicate' | undefined>;
  deleteProfile(id: string): Promise<void>;
}

/** Device limit policies. */
export interface LimitPolicyRecords {
  /** By priority, lowest first. */
  allPolicies(): Promise<LimitPolicyDoc[]>;
  policy(id: string): Promise<LimitPolicyDoc | undefined>;
  /** Which policy holds a priority, if any. */
  policyWithPriority(priority: number): Promise<string | undefined>;
  insertPolicy(doc: Omit<LimitPolicyDoc, 'createdAt' | 'updatedAt'>): Promise<LimitPolicyDoc | 'duplicate'>;
  /** Only under the claim of `set.version`. */
  updatePolicy(id: string, set: Partial<LimitPolicyDoc>): Promise<LimitPolicyDoc | 'duplicate' | undefined>;
  deletePolicy(id: string): Promise<void>;
}

/** The append-only change log: entry n+1 is a unique insert. */
export interface ChangeEntries {
  entry(id: number): Promise<ChangeDoc | undefined>;
  /** False when another writer appended this entry first. */
  appendEntry(entry: ChangeDoc): Promise<boolean>;
  /** Old entries keep kind and target only; the appender of a later entry sheds them (no one else writes them). */
  shedOrders(fromId: number, toId: number): Promise<void>;
}

/** Claims on an entity's next version: unique inserts, given back by delete. */
export interface VersionClaims {
  /** False when the claim is held. */
  insertClaim(id: string, at: Date): Promise<boolean>;
  claimedAt(id: string): Promise<Date | undefined>;
  /** Deletes the claim (only the one taken at `at`, when given). */
  deleteClaim(id: string, at?: Date): Promise<void>;
}

async function inserted<T>(create: () => Promise<{ toObject(): unknown }>): Promise<T | 'duplicate'> {
  try {
    return (await create()).toObject() as T;
  } catch (error) {
    if (isDuplicateKeyError(error)) return 'duplicate';
    throw error;
  }
}

async function updated<T>(update: () => Promise<T | null>): Promise<T | 'duplicate' | undefined> {
  try {
    return (await update()) ?? undefined;
  } catch (error) {
    if (isDuplicateKeyError(error)) return 'duplicate';
    throw error;
  }
}

export class MongoEnrollmentRecords implements ProfileRecords, LimitPolicyRecords, ChangeEntries, VersionClaims {
  private readonly profiles: Model<ProfileDoc>;
  private readonly changes: Model<ChangeDoc>;
  private readonly claims: Model<VersionClaimDoc>;
  private readonly policies: Model<LimitPolicyDoc>;

  constructor(connection: Connection) {
    this.profiles = modelOn(connection, 'EnrollmentProfile', profileSchema);
    this.changes = modelOn(connection, 'EnrollmentProfileChange', changeSchema);
    this.claims = modelOn(connection, 'EnrollmentVersionClaim', claimSchema);
    this.policies = modelOn(connection, 'EnrollmentDeviceLimitPolicy', limitPolicySchema);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.profiles.init(), this.changes.init(), this.claims.init(), this.policies.init()]);
  }

  allProfiles(): Promise<ProfileDoc[]> {
    return this.profiles.find().lean<ProfileDoc[]>().exec();
  }

  async profile(id: string): Promise<ProfileDoc | undefined> {
    return (await this.profiles.findById(id).lean<ProfileDoc>()) ?? undefined;
  }

  insertProfile(doc: Omit<ProfileDoc, 'createdAt' | 'updatedAt'>): Promise<ProfileDoc | 'duplicate'> {
    return inserted<ProfileDoc>(() => this.profiles.create(doc));
  }

  updateProfile(id: string, set: Partial<ProfileDoc>): Promise<ProfileDoc | 'duplicate' | undefined> {
    return updated(() =>
      this.profiles.findByIdAndUpdate(id, { $set: set }, { returnDocument: 'after' }).lean<ProfileDoc>().exec(),
    );
  }

  async deleteProfile(id: string): Promise<void> {
    await this.profiles.deleteOne({ _id: id });
  }

  allPolicies(): Promise<LimitPolicyDoc[]> {
    return this.policies.find().sort({ priority: 1 }).lean<LimitPolicyDoc[]>().exec();
  }

  async policy(id: string): Promise<LimitPolicyDoc | undefined> {
    return (await this.policies.findById(id).lean<LimitPolicyDoc>()) ?? undefined;
  }

  async policyWithPriority(priority: number): Promise<string | undefined> {
    return (await this.policies.findOne({ priority }, { _id: 1 }).lean<{ _id: string }>())?._id;
  }

  insertPolicy(doc: Omit<LimitPolicyDoc, 'createdAt' | 'updatedAt'>): Promise<LimitPolicyDoc | 'duplicate'> {
    return inserted<LimitPolicyDoc>(() => this.policies.create(doc));
  }

  updatePolicy(id: string, set: Partial<LimitPolicyDoc>): Promise<LimitPolicyDoc | 'duplicate' | undefined> {
    return updated(() =>
      this.policies.findByIdAndUpdate(id, { $set: set }, { returnDocument: 'after' }).lean<LimitPolicyDoc>().exec(),
    );
  }

  async deletePolicy(id: string): Promise<void> {
    await this.policies.deleteOne({ _id: id });
  }

  async entry(id: number): Promise<ChangeDoc | undefined> {
    const doc = await this.changes.findById(id).lean<ChangeDoc>();
    return doc ? { ...doc, ids: doc.ids ?? [] } : undefined;
  }

  async appendEntry(entry: ChangeDoc): Promise<boolean> {
    return (await inserted<ChangeDoc>(() => this.changes.create(entry))) !== 'duplicate';
  }

  async shedOrders(fromId: number, toId: number): Promise<void> {
    await this.changes.updateMany({ _id: { $gte: fromId, $lt: toId } }, { $set: { ids: [] } });
  }

  async insertClaim(id: string, at: Date): Promise<boolean> {
    return (await inserted<VersionClaimDoc>(() => this.claims.create({ _id: id, at }))) !== 'duplicate';
  }

  async claimedAt(id: string): Promise<Date | undefined> {
    const held = await this.claims.findById(id).lean<VersionClaimDoc>();
    return held ? new Date(held.at) : undefined;
  }

  async deleteClaim(id: string, at?: Date): Promise<void> {
    await this.claims.deleteOne({ _id: id, ...(at ? { at } : {}) });
  }
}
