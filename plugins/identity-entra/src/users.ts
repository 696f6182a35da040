import type { DirectoryGroup, DirectoryUser, UserDirectory, VerifiedIdentity } from 'enrollment-gateway/sdk';
import type { GroupDirectory } from './graph.js';
import type { UserProfileDoc, UserStorage } from './storage/user-records.js';

/** The directory record with what the gateway decides on: also the app roles of the last sign-in. */
export interface StoredUser extends DirectoryUser {
  roles: string[];
}

function toStoredUser(doc: UserProfileDoc, disabled: boolean): StoredUser {
  return {
    id: doc._id,
    upn: doc.upn,
    displayName: doc.displayName,
    tenantId: doc.tenantId,
    enabled: !disabled,
    groups: doc.groups ?? [],
    lastSignInAt: doc.lastSignInAt,
    roles: doc.roles ?? [],
  };
}

export function toDirectoryUser(user: StoredUser): DirectoryUser {
  const { roles: _roles, ...directoryUser } = user;
  return directoryUser;
}

/** A sign-in stored other groups than the user had: announces it (user.groupsChanged). */
export type GroupsChangeAnnouncer = (change: { userId: string; groups: string[]; previous: string[] }) => Promise<void>;

const sameGroups = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * The user directory (collections identity_users and identity_user_disabled), keyed by the provider's object id.
 * Sign-ins write the profile, admins the disabled mark: two records, so neither can overwrite the other.
 */
export class MongoUserDirectory implements UserDirectory {
  /** `changed` hears of every write to a user (sign-in, enable, disable), so caches can drop the user. */
  constructor(
    private readonly storage: UserStorage,
    private readonly changed: (userId: string) => Promise<void> = async () => undefined,
    /** Microsoft Graph when Entra is the provider with app credentials; other providers have only sign-ins. */
    private readonly graph?: GroupDirectory,
    /** Raises user.groupsChanged after a sign-in stored other groups than the user had. */
    private readonly announceGroups: GroupsChangeAnnouncer = async () => undefined,
  ) {}

  async get(userId: string): Promise<DirectoryUser | undefined> {
    const user = await this.record(userId);
    return user ? toDirectoryUser(user) : undefined;
  }

  /** The record with roles, for admin decisions (not part of the SDK's DirectoryUser). */
  async record(userId: string): Promise<StoredUser | undefined> {
    const [doc, disabled] = await Promise.all([
      this.storage.profiles.profile(userId),
      this.storage.disabled.disabled([userId]),
    ]);
    return doc ? toStoredUser(doc, disabled.has(userId)) : undefined;
  }

  /** Groups are known once a signed-in member brought them in a token or from Graph, or when Graph confirms them. */
  async knownGroups(groupIds: readonly string[]): Promise<{ known: string[]; unknown: string[] }> {
    const seen = await this.storage.profiles.knownGroups(groupIds);
    const unseen = groupIds.filter((g) => !seen.has(g));
    const confirmed = this.graph && unseen.length > 0 ? await this.graph.existingGroups(unseen) : new Set<string>();
    const isKnown = (g: string) => seen.has(g) || confirmed.has(g);
    return { known: groupIds.filter(isKnown), unknown: groupIds.filter((g) => !isKnown(g)) };
  }

  /** The directory's matches first (Graph, by display name), then groups seen at sign-in, without repeats. */
  async searchGroups(query: string, limit: number): Promise<DirectoryGroup[]> {
    const fromGraph: DirectoryGroup[] = this.graph
      ? (await this.graph.searchGroups(query, limit)).map((g) => ({ ...g, source: 'directory' }))
      : [];
    const listed = new Set(fromGraph.map((g) => g.id));
    const fromSignIns: DirectoryGroup[] = (await this.storage.profiles.seenGroups(query, limit))
      .filter((id) => !listed.has(id))
      .map((id) => ({ id, source: 'sign-ins' }));
    return [...fromGraph, ...fromSignIns].slice(0, limit);
  }

  membersOf(groupId: string, limit: number): Promise<string[]> {
    return this.storage.profiles.members(groupId, limit);
  }

  /**
   * Records a sign-in: creates the user, refreshes name, groups and app roles (admin rights are decided on these
   * per request, so a change in Entra takes effect at the user's next sign-in). Returns the stored record.
   */
  async recordSignIn(identity: VerifiedIdentity, provider: string): Promise<StoredUser> {
    const userId = identity.subject;
    const groups = [...identity.groups];
    const { doc, previousGroups: previous } = await this.storage.profiles.saveSignIn(userId, {
      upn: identity.username,
      displayName: identity.displayName,
      tenantId: identity.tenantId,
      groups,
      roles: [...identity.roles],
      provider,
    });
    if (!sameGroups(previous, groups)) await this.announceGroups({ userId, groups, previous });
    await this.changed(identity.subject);
    const disabled = await this.storage.disabled.disabled([identity.subject]);
    return toStoredUser(doc, disabled.has(identity.subject));
  }

  async markSignedIn(userId: string, at: Date): Promise<void> {
    await this.storage.profiles.markSignedIn(userId, at);
  }

  async setEnabled(
    userId: string,
    enabled: boolean,
  ): Promise<{ before: DirectoryUser; after: DirectoryUser } | undefined> {
    const before = await this.get(userId);
    if (!before) return undefined;
    if (enabled) await this.storage.disabled.enable(userId);
    else await this.storage.disabled.disable(userId);
    await this.changed(userId);
    return { before, after: { ...before, enabled } };
  }

  /** Users in id order after `cursor`; `enabled` filters (disabled users are listed from their own records). */
  async list(options: { cursor?: string; limit: number; enabled?: boolean }): Promise<StoredUser[]> {
    if (options.enabled === false) {
      const ids = await this.storage.disabled.page(options.cursor, options.limit);
      return (await this.storage.profiles.profiles(ids)).map((doc) => toStoredUser(doc, true));
    }
    const out: StoredUser[] = [];
    let cursor = options.cursor;
    while (out.length < options.limit) {
      const docs = await this.storage.profiles.page(cursor, options.limit);
      if (docs.length === 0) break;
      const disabled = await this.storage.disabled.disabled(docs.map((d) => d._id));
      for (const doc of docs) {
        const user = toStoredUser(doc, disabled.has(doc._id));
        if (options.enabled === undefined || user.enabled) out.push(user);
      }
      if (docs.length < options.limit) break;
      cursor = docs[docs.length - 1]._id;
    }
    return out.slice(0, options.limit);
  }
}
