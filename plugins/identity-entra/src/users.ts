import type { DirectoryGroup, DirectoryUser, UserDirectory, VerifiedIdentity } from 'enrollment-gateway/sdk';
import type { GroupDirectory } from './graph.js';
import type { GroupRefreshDoc } from './storage/group-refreshes.js';
import type { UserProfileDoc, UserStorage } from './storage/user-records.js';

/** The directory record with what the gateway decides on: also the app roles of the last sign-in. */
export interface StoredUser extends DirectoryUser {
  roles: string[];
}

/** The newer word on a user's groups: the last sign-in's, or what Graph reported after it (group refresh). */
export function effectiveGroups(
  signIn: Pick<UserProfileDoc, 'groups' | 'groupsAt'>,
  refresh: GroupRefreshDoc | undefined,
): string[] {
  if (refresh && refresh.observedAt.getTime() > (signIn.groupsAt?.getTime() ?? 0)) return [...refresh.groups];
  return [...(signIn.groups ?? [])];
}

function toStoredUser(doc: UserProfileDoc, disabled: boolean, refresh?: GroupRefreshDoc): StoredUser {
  return {
    id: doc._id,
    upn: doc.upn,
    displayName: doc.displayName,
    tenantId: doc.tenantId,
    enabled: !disabled,
    groups: effectiveGroups(doc, refresh),
    lastSignInAt: doc.lastSignInAt,
    roles: doc.roles ?? [],
  };
}

export function toDirectoryUser(user: StoredUser): DirectoryUser {
  const { roles: _roles, ...directoryUser } = user;
  return directoryUser;
}

/** A sign-in or a group refresh stored other groups than the user had: announces it (user.groupsChanged). */
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
    const [doc, disabled, refreshes] = await Promise.all([
      this.storage.profiles.profile(userId),
      this.storage.disabled.disabled([userId]),
      this.storage.refreshes.of([userId]),
    ]);
    return doc ? toStoredUser(doc, disabled.has(userId), refreshes.get(userId)) : undefined;
  }

  /** Groups are known once a signed-in member brought them in a token or from Graph, or when Graph confirms them. */
  async knownGroups(groupIds: readonly string[]): Promise<{ known: string[]; unknown: string[] }> {
    const [fromSignIns, fromRefreshes] = await Promise.all([
      this.storage.profiles.knownGroups(groupIds),
      this.storage.refreshes.knownGroups(groupIds),
    ]);
    const seen = new Set([...fromSignIns, ...fromRefreshes]);
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

  /**
   * Users whose groups now (sign-in or refresh, whichever is newer) include the group, in id order: both records
   * are paged together, since an entry in either may be outdated by the other.
   */
  async membersOf(groupId: string, limit: number): Promise<string[]> {
    const members: string[] = [];
    let after: string | undefined;
    while (members.length < limit) {
      const pages = await Promise.all([
        this.storage.profiles.members(groupId, limit, after),
        this.storage.refreshes.members(groupId, limit, after),
      ]);
      // Up to the smaller last id of a full page, both lists are complete; past it one may have more.
      const fullPageEnds = pages.filter((page) => page.length === limit).map((page) => page[page.length - 1]);
      const upTo = fullPageEnds.sort()[0];
      const candidates = [...new Set(pages.flat())].filter((id) => upTo === undefined || id <= upTo).sort();
      members.push(...(await this.withGroup(candidates, groupId)));
      if (upTo === undefined) break;
      after = upTo;
    }
    return members.slice(0, limit);
  }

  /** Of these users, those whose groups now include the group, in the same order. */
  private async withGroup(userIds: string[], groupId: string): Promise<string[]> {
    if (userIds.length === 0) return [];
    const [docs, refreshes] = await Promise.all([
      this.storage.profiles.profiles(userIds),
      this.storage.refreshes.of(userIds),
    ]);
    return docs.filter((doc) => effectiveGroups(doc, refreshes.get(doc._id)).includes(groupId)).map((doc) => doc._id);
  }

  /**
   * Records a sign-in: creates the user, refreshes name, groups and app roles (admin rights are decided on these
   * per request, so a change in Entra takes effect at the user's next sign-in). Returns the stored record.
   */
  async recordSignIn(identity: VerifiedIdentity, provider: string): Promise<StoredUser> {
    const userId = identity.subject;
    const groups = [...identity.groups];
    const refresh = (await this.storage.refreshes.of([userId])).get(userId);
    const saved = await this.storage.profiles.saveSignIn(userId, {
      upn: identity.username,
      displayName: identity.displayName,
      tenantId: identity.tenantId,
      groups,
      roles: [...identity.roles],
      provider,
    });
    // What the user had: the previous sign-in's groups, or a group refresh made after it.
    const previous = effectiveGroups(saved.previous, refresh);
    if (!sameGroups(previous, groups)) await this.announceGroups({ userId, groups, previous });
    await this.changed(identity.subject);
    const disabled = await this.storage.disabled.disabled([identity.subject]);
    return toStoredUser(saved.doc, disabled.has(identity.subject));
  }

  /**
   * Graph's word on a user's groups, read from `observedAt` on (the group refresh job). Stored and announced only
   * when it differs from the user's groups now; a sign-in after `observedAt` stays the newer word. Returns whether
   * the groups changed.
   */
  async refreshGroups(userId: string, groups: readonly string[], observedAt: Date): Promise<boolean> {
    const [doc, refreshes] = await Promise.all([
      this.storage.profiles.profile(userId),
      this.storage.refreshes.of([userId]),
    ]);
    if (!doc || (doc.groupsAt?.getTime() ?? 0) >= observedAt.getTime()) return false;
    const previous = effectiveGroups(doc, refreshes.get(userId));
    if (sameGroups(previous, groups)) return false;
    await this.storage.refreshes.save(userId, groups, observedAt);
    await this.announceGroups({ userId, groups: [...groups], previous });
    await this.changed(userId);
    return true;
  }

  /**
   * A page of users in id order after `cursor` (the group refresh walks them): the ids of those who signed in
   * with `provider`, and where the next page starts (none after the last).
   */
  async pageSignedInWith(
    provider: string,
    cursor: string | undefined,
    limit: number,
  ): Promise<{ ids: string[]; next?: string }> {
    const docs = await this.storage.profiles.page(cursor, limit);
    const ids = docs.filter((d) => d.provider === provider).map((d) => d._id);
    return docs.length === limit ? { ids, next: docs[docs.length - 1]._id } : { ids };
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
      const refreshes = await this.storage.refreshes.of(ids);
      return (await this.storage.profiles.profiles(ids)).map((doc) => toStoredUser(doc, true, refreshes.get(doc._id)));
    }
    const out: StoredUser[] = [];
    let cursor = options.cursor;
    while (out.length < options.limit) {
      const docs = await this.storage.profiles.page(cursor, options.limit);
      if (docs.length === 0) break;
      const ids = docs.map((d) => d._id);
      const [disabled, refreshes] = await Promise.all([
        this.storage.disabled.disabled(ids),
        this.storage.refreshes.of(ids),
      ]);
      for (const doc of docs) {
        const user = toStoredUser(doc, disabled.has(doc._id), refreshes.get(doc._id));
        if (options.enabled === undefined || user.enabled) out.push(user);
      }
      if (docs.length < options.limit) break;
      cursor = docs[docs.length - 1]._id;
    }
    return out.slice(0, options.limit);
  }
}
