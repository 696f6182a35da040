import { modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * A user's groups as Microsoft Graph reported them (identity_group_refreshes): written only by the group refresh
 * job, so it never races the sign-in that writes the profile. `observedAt` is when the Graph read began; the
 * newer of this and the profile's `groupsAt` is the user's groups.
 */
export interface GroupRefreshDoc {
  _id: string;
  groups: string[];
  observedAt: Date;
}

/** The group refresh job's record: the only writer of identity_group_refreshes. */
export interface GroupRefreshes {
  save(userId: string, groups: readonly string[], observedAt: Date): Promise<void>;
  of(userIds: readonly string[]): Promise<Map<string, GroupRefreshDoc>>;
  /** Ids of users whose refresh named the group, in id order (after `after`). */
  members(groupId: string, limit: number, after?: string): Promise<string[]>;
  knownGroups(groupIds: readonly string[]): Promise<Set<string>>;
}

const refreshSchema = new Schema<GroupRefreshDoc>(
  {
    _id: { type: String, required: true },
    groups: { type: [String], default: [] },
    observedAt: { type: Date, required: true },
  },
  { collection: 'identity_group_refreshes', versionKey: false },
);
refreshSchema.index({ groups: 1 });

export class MongoGroupRefreshes implements GroupRefreshes {
  readonly model: Model<GroupRefreshDoc>;

  constructor(connection: Connection) {
    this.model = modelOn<GroupRefreshDoc>(connection, 'IdentityGroupRefresh', refreshSchema);
  }

  async save(userId: string, groups: readonly string[], observedAt: Date): Promise<void> {
    await this.model.replaceOne({ _id: userId }, { _id: userId, groups: [...groups], observedAt }, { upsert: true });
  }

  async of(userIds: readonly string[]): Promise<Map<string, GroupRefreshDoc>> {
    if (userIds.length === 0) return new Map();
    const docs = await this.model.find({ _id: { $in: [...userIds] } }).lean<GroupRefreshDoc[]>();
    return new Map(docs.map((doc) => [doc._id, doc]));
  }

  async members(groupId: string, limit: number, after?: string): Promise<string[]> {
    const docs = await this.model
      .find(after ? { groups: groupId, _id: { $gt: after } } : { groups: groupId }, { _id: 1 })
      .sort({ _id: 1 })
      .limit(limit)
      .lean<{ _id: string }[]>();
    return docs.map((doc) => doc._id);
  }

  async knownGroups(groupIds: readonly string[]): Promise<Set<string>> {
    return new Set((await this.model.distinct('groups', { groups: { $in: [...groupIds] } })) as string[]);
  }
}
