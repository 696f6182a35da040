import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import { type GroupRefreshes, MongoGroupRefreshes } from './group-refreshes.js';

/**
 * A user is two records, each with one writer, because FerretDB applies an update by rewriting the whole document
 * and two concurrent updates of one document lose one of them (a sign-in racing an admin's disable wrote the user
 * back enabled):
 * - the profile (identity_users): what the last sign-in brought; written only by sign-ins;
 * - the disabled mark (identity_user_disabled): inserted by an admin's disable, deleted by the enable;
 * - the groups Graph reported since (identity_group_refreshes, group-refreshes.ts): written only by the refresh job.
 */
export interface UserProfileDoc {
  _id: string;
  upn: string;
  displayName: string;
  tenantId?: string;
  groups: string[];
  /** When the sign-in that brought `groups` happened (absent on users stored before group refreshes). */
  groupsAt?: Date;
  roles: string[];
  provider: string;
  lastSignInAt?: Date;
  /** Only on users stored before the disabled mark had its own record; moved there once at start. */
  enabled?: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type SignInProfile = Pick<UserProfileDoc, 'upn' | 'displayName' | 'tenantId' | 'groups' | 'roles' | 'provider'>;

/** The sign-in role: the only writer of profiles. */
export interface UserProfiles {
  /** Writes the sign-in's profile; returns it, and the groups stored before and when (none for a new user). */
  saveSignIn(
    userId: string,
    profile: SignInProfile,
  ): Promise<{ doc: UserProfileDoc; previous: Pick<UserProfileDoc, 'groups' | 'groupsAt'> }>;
  markSignedIn(userId: string, at: Date): Promise<void>;
  profile(userId: string): Promise<UserProfileDoc | undefined>;
  profiles(ids: readonly string[]): Promise<UserProfileDoc[]>;
  /** In id order after `cursor`. */
  page(cursor: string | undefined, limit: number): Promise<UserProfileDoc[]>;
  knownGroups(groupIds: readonly string[]): Promise<Set<string>>;
  /** Ids of users whose last sign-in named the group, in id order (after `after`). */
  members(groupId: string, limit: number, after?: string): Promise<string[]>;
  /** Group ids some user's last sign-in brought that contain `query` (case-insensitive), sorted, at most `limit`. */
  seenGroups(query: string, limit: number): Promise<string[]>;
}

/** The admin role: disables (insert) and enables (delete). */
export interface DisabledUsers {
  disable(userId: string): Promise<void>;
  enable(userId: string): Promise<void>;
  disabled(ids: readonly string[]): Promise<Set<string>>;
  /** Disabled user ids in id order after `cursor`. */
  page(cursor: string | undefined, limit: number): Promise<string[]>;
}

export interface UserStorage {
  profiles: UserProfiles;
  disabled: DisabledUsers;
  refreshes: GroupRefreshes;
}

interface DisabledDoc {
  _id: string;
  at: Date;
}

const profileSchema = new Schema<UserProfileDoc>(
  {
    _id: { type: String, required: true },
    upn: { type: String, required: true },
    displayName: { type: String, required: true },
    tenantId: String,
    enabled: Boolean,
    groups: { type: [String], default: [] },
    groupsAt: Date,
    roles: { type: [String], default: [] },
    provider: { type: String, required: true },
    lastSignInAt: Date,
  },
  { collection: 'identity_users', versionKey: false, timestamps: true },
);
profileSchema.index({ upn: 1 });
profileSchema.index({ groups: 1 });

const disabledSchema = new Schema<DisabledDoc>(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { collection: 'identity_user_disabled', versionKey: false },
);

class MongoUserProfiles implements UserProfiles {
  constructor(readonly model: Model<UserProfileDoc>) {}

  async saveSignIn(
    userId: string,
    profile: SignInProfile,
  ): Promise<{ doc: UserProfileDoc; previous: Pick<UserProfileDoc, 'groups' | 'groupsAt'> }> {
    const fields = { ...profile, groups: [...profile.groups], groupsAt: new Date(), roles: [...profile.roles] };
    // The document as it was, from the write itself: a separate read racing the sign-ins stalled FerretDB.
    const write = (upsert: boolean) =>
      this.model
        .findOneAndUpdate({ _id: userId }, { $set: fields }, { upsert, returnDocument: 'before' })
        .lean<UserProfileDoc>();
    let before: UserProfileDoc | null;
    try {
      before = await write(true);
    } catch (error) {
      // Two first sign-ins at once both insert; the refused one updates what the other created.
      if (!isDuplicateKeyError(error)) throw error;
      before = await write(false);
    }
    const now = new Date();
    const doc: UserProfileDoc = { createdAt: now, ...(before ?? {}), ...fields, _id: userId, updatedAt: now };
    const previous = {
      groups: [...(before?.groups ?? [])],
      ...(before?.groupsAt ? { groupsAt: before.groupsAt } : {}),
    };
    return { doc, previous };
  }

  async markSignedIn(userId: string, at: Date): Promise<void> {
    await this.model.updateOne({ _id: userId }, { $set: { lastSignInAt: at } });
  }

  async profile(userId: string): Promise<UserProfileDoc | undefined> {
    return (await this.model.findById(userId).lean<UserProfileDoc>()) ?? undefined;
  }

  profiles(ids: readonly string[]): Promise<UserProfileDoc[]> {
    return this.model
      .find({ _id: { $in: [...ids] } })
      .sort({ _id: 1 })
      .lean<UserProfileDoc[]>()
      .exec();
  }

  page(cursor: string | undefined, limit: number): Promise<UserProfileDoc[]> {
    return this.model
      .find(cursor ? { _id: { $gt: cursor } } : {})
      .sort({ _id: 1 })
      .limit(limit)
      .lean<UserProfileDoc[]>()
      .exec();
  }

  async knownGroups(groupIds: readonly string[]): Promise<Set<string>> {
    return new Set((await this.model.distinct('groups', { groups: { $in: [...groupIds] } })) as string[]);
  }

  async members(groupId: string, limit: number, after?: string): Promise<string[]> {
    const filter = after ? { groups: groupId, _id: { $gt: after } } : { groups: groupId };
    const docs = await this.model.find(filter, { _id: 1 }).sort({ _id: 1 }).limit(limit).lean();
    return docs.map((doc) => String(doc._id));
  }

  async seenGroups(query: string, limit: number): Promise<string[]> {
    const pattern = query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // distinct returns every group of the matching users; keep only the groups that match themselves.
    const groups = (await this.model.distinct('groups', { groups: { $regex: pattern, $options: 'i' } })) as string[];
    const needle = query.toLowerCase();
    return groups
      .filter((g) => g.toLowerCase().includes(needle))
      .sort()
      .slice(0, limit);
  }
}

class MongoDisabledUsers implements DisabledUsers {
  constructor(readonly model: Model<DisabledDoc>) {}

  async disable(userId: string): Promise<void> {
    try {
      await this.model.create({ _id: userId, at: new Date() });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  async enable(userId: string): Promise<void> {
    await this.model.deleteOne({ _id: userId });
  }

  async disabled(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const docs = await this.model.find({ _id: { $in: [...ids] } }, { _id: 1 }).lean<{ _id: string }[]>();
    return new Set(docs.map((d) => d._id));
  }

  async page(cursor: string | undefined, limit: number): Promise<string[]> {
    const docs = await this.model
      .find(cursor ? { _id: { $gt: cursor } } : {}, { _id: 1 })
      .sort({ _id: 1 })
      .limit(limit)
      .lean<{ _id: string }[]>();
    return docs.map((d) => d._id);
  }
}

/** Marks that users stored with `enabled: false` have their disabled record; later starts skip the move. */
const MIGRATION_ID = 'migrated:enabled-field';

export class MongoUserStorage implements UserStorage {
  readonly profiles: MongoUserProfiles;
  readonly disabled: MongoDisabledUsers;
  readonly refreshes: MongoGroupRefreshes;

  constructor(private readonly connection: Connection) {
    this.profiles = new MongoUserProfiles(modelOn(connection, 'IdentityUser', profileSchema));
    this.disabled = new MongoDisabledUsers(modelOn(connection, 'IdentityUserDisabled', disabledSchema));
    this.refreshes = new MongoGroupRefreshes(connection);
  }

  /**
   * Indexes, and the one-time move of `enabled: false` into disabled records (idempotent: inserts only, then a
   * marker, kept in the migrations collection so a later enable is not undone by the next start).
   */
  async prepare(): Promise<void> {
    await Promise.all([this.profiles.model.init(), this.disabled.model.init(), this.refreshes.model.init()]);
    const migrations = this.connection.collection<{ _id: string; at: Date }>('identity_migrations');
    if (await migrations.findOne({ _id: MIGRATION_ID })) return;
    const legacy = await this.profiles.model.find({ enabled: false }, { _id: 1 }).lean<{ _id: string }[]>();
    for (const { _id } of legacy) await this.disabled.disable(_id);
    try {
      await migrations.insertOne({ _id: MIGRATION_ID, at: new Date() });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }
}
