import type { DirectoryUser, UserDirectory, VerifiedIdentity } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

export interface UserDocument {
  _id: string;
  upn: string;
  displayName: string;
  tenantId?: string;
  enabled: boolean;
  groups: string[];
  roles: string[];
  provider: string;
  lastSignInAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

const userSchema = new Schema<UserDocument>(
  {
    _id: { type: String, required: true },
    upn: { type: String, required: true },
    displayName: { type: String, required: true },
    tenantId: String,
    enabled: { type: Boolean, required: true, default: true },
    groups: { type: [String], default: [] },
    roles: { type: [String], default: [] },
    provider: { type: String, required: true },
    lastSignInAt: Date,
  },
  { collection: 'identity_users', versionKey: false, timestamps: true },
);
userSchema.index({ upn: 1 });
userSchema.index({ groups: 1 });

export function toDirectoryUser(doc: UserDocument): DirectoryUser {
  return {
    id: doc._id,
    upn: doc.upn,
    displayName: doc.displayName,
    tenantId: doc.tenantId,
    enabled: doc.enabled,
    groups: doc.groups ?? [],
    lastSignInAt: doc.lastSignInAt,
  };
}

/** The directory record with what the gateway decides on: also the app roles of the last sign-in. */
export interface StoredUser extends DirectoryUser {
  roles: string[];
}

export const toStoredUser = (doc: UserDocument): StoredUser => ({ ...toDirectoryUser(doc), roles: doc.roles ?? [] });

/** The user directory in MongoDB (collection identity_users), keyed by the provider's object id. */
export class MongoUserDirectory implements UserDirectory {
  readonly model: Model<UserDocument>;

  /** `changed` hears of every write to a user (sign-in, enable, disable), so caches can drop the user. */
  constructor(
    connection: Connection,
    private readonly changed: (userId: string) => Promise<void> = async () => undefined,
  ) {
    this.model =
      (connection.models.IdentityUser as Model<UserDocument>) ??
      connection.model<UserDocument>('IdentityUser', userSchema);
  }

  async ensureIndexes(): Promise<void> {
    await this.model.init();
  }

  async get(userId: string): Promise<DirectoryUser | undefined> {
    const doc = await this.model.findById(userId).lean<UserDocument>();
    return doc ? toDirectoryUser(doc) : undefined;
  }

  /** The record with roles, for admin decisions (not part of the SDK's DirectoryUser). */
  async record(userId: string): Promise<StoredUser | undefined> {
    const doc = await this.model.findById(userId).lean<UserDocument>();
    return doc ? toStoredUser(doc) : undefined;
  }

  /** Groups are known once a signed-in member brought them in a token or from Graph. */
  async knownGroups(groupIds: readonly string[]): Promise<{ known: string[]; unknown: string[] }> {
    const seen = new Set((await this.model.distinct('groups', { groups: { $in: [...groupIds] } })) as string[]);
    return { known: groupIds.filter((g) => seen.has(g)), unknown: groupIds.filter((g) => !seen.has(g)) };
  }

  /**
   * Records a sign-in: creates the user, refreshes name, groups and app roles (admin rights are decided on these
   * per request, so a change in Entra takes effect at the user's next sign-in). Returns the stored record.
   */
  async recordSignIn(identity: VerifiedIdentity, provider: string): Promise<StoredUser> {
    const doc = await this.model
      .findOneAndUpdate(
        { _id: identity.subject },
        {
          $set: {
            upn: identity.username,
            displayName: identity.displayName,
            tenantId: identity.tenantId,
            groups: [...identity.groups],
            roles: [...identity.roles],
            provider,
          },
          $setOnInsert: { enabled: true },
        },
        { upsert: true, returnDocument: 'after' },
      )
      .lean<UserDocument>();
    await this.changed(identity.subject);
    return toStoredUser(doc as UserDocument);
  }

  async markSignedIn(userId: string, at: Date): Promise<void> {
    await this.model.updateOne({ _id: userId }, { $set: { lastSignInAt: at } });
  }

  async setEnabled(
    userId: string,
    enabled: boolean,
  ): Promise<{ before: DirectoryUser; after: DirectoryUser } | undefined> {
    const before = await this.model.findOneAndUpdate({ _id: userId }, { $set: { enabled } }).lean<UserDocument>();
    if (!before) return undefined;
    await this.changed(userId);
    return { before: toDirectoryUser(before), after: { ...toDirectoryUser(before), enabled } };
  }

  async list(options: { cursor?: string; limit: number; enabled?: boolean }): Promise<UserDocument[]> {
    const filter: Record<string, unknown> = {};
    if (options.cursor) filter._id = { $gt: options.cursor };
    if (options.enabled !== undefined) filter.enabled = options.enabled;
    return this.model.find(filter).sort({ _id: 1 }).limit(options.limit).lean<UserDocument[]>();
  }
}
