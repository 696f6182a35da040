import { randomUUID } from 'node:crypto';
import { NotFoundProblem, ProblemError, type UserDirectory, ValidationProblem } from 'enrollment-gateway/sdk';
import type { ChangeLog } from './change-log.js';
import type { CreateProfileInput, UpdateProfileInput } from './schemas.js';
import type { ChangeDoc, ProfileDoc, ProfileRecords } from './storage/enrollment-records.js';

/** A profile as the admin API shows it: priority comes from the ordering document. */
export interface ProfileView {
  id: string;
  name: string;
  description: string;
  enrollmentType: ProfileDoc['enrollmentType'];
  assignments: ProfileDoc['assignments'];
  priority: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export const nameKey = (name: string) => name.normalize('NFC').toLowerCase();

export class StaleOrderProblem extends ProblemError {
  constructor(currentVersion: number | undefined) {
    super(409, 'Conflict', 'the profile order changed since you read it; reload and try again', {
      extensions: { currentVersion },
    });
  }
}

/** Checks group ids against the identity provider when one is enabled. */
export async function assertKnownGroups(directory: UserDirectory | undefined, field: string, ids: readonly string[]) {
  if (!directory || ids.length === 0) return;
  const { unknown } = await directory.knownGroups(ids);
  if (unknown.length > 0) {
    throw new ValidationProblem(`${field}: unknown group ids: ${unknown.join(', ')}`, [
      { path: field, message: `unknown group ids: ${unknown.join(', ')}` },
    ]);
  }
}

const duplicateName = (name: string) =>
  new ValidationProblem(`name: a profile named ${JSON.stringify(name)} already exists`, [
    { path: 'name', message: 'already used by another profile (names are case-insensitive)' },
  ]);

/**
 * Profiles and their order without multi-document transactions: the order lives in the newest
 * entry of the change log, which only one writer can append at a time, so concurrent writers can
 * never leave gaps or duplicates. A client's stale reorder gets 409; server-side inserts and
 * deletes decide again from the newer order.
 */
export class ProfileService {
  constructor(
    private readonly records: ProfileRecords,
    private readonly log: ChangeLog,
    private readonly groups: () => UserDirectory | undefined,
  ) {}

  ordering(): Promise<ChangeDoc> {
    return this.log.latest();
  }

  view(doc: ProfileDoc, order: ChangeDoc): ProfileView {
    return {
      id: doc._id,
      name: doc.name,
      description: doc.description,
      enrollmentType: doc.enrollmentType,
      assignments: {
        allUsers: doc.assignments.allUsers,
        includedGroups: doc.assignments.includedGroups,
        excludedGroups: doc.assignments.excludedGroups,
      },
      priority: order.ids.indexOf(doc._id) + 1,
      version: doc.version,
      createdAt: doc.createdAt,
      updatedAt: doc.updatedAt,
    };
  }

  async list(): Promise<{ items: ProfileView[]; order: ChangeDoc }> {
    const order = await this.ordering();
    // One scan beats $in on FerretDB; profiles missing from the order (a failed create) are skipped.
    const docs = await this.records.allProfiles();
    const byId = new Map(docs.map((doc) => [doc._id, doc]));
    const items = order.ids.flatMap((id) => {
      const doc = byId.get(id);
      return doc ? [this.view(doc, order)] : [];
    });
    return { items, order };
  }

  async get(id: string): Promise<{ view: ProfileView; order: ChangeDoc }> {
    const [doc, order] = await Promise.all([this.records.profile(id), this.ordering()]);
    if (!doc || !order.ids.includes(id)) throw new NotFoundProblem('no such enrollment profile');
    return { view: this.view(doc, order), order };
  }

  async create(input: CreateProfileInput): Promise<{ view: ProfileView; order: ChangeDoc }> {
    await assertKnownGroups(this.groups(), 'assignments.includedGroups', input.assignments.includedGroups);
    await assertKnownGroups(this.groups(), 'assignments.excludedGroups', input.assignments.excludedGroups);
    const id = randomUUID();
    const doc = await this.records.insertProfile({
      _id: id,
      name: input.name,
      nameKey: nameKey(input.name),
      description: input.description,
      enrollmentType: input.enrollmentType,
      assignments: input.assignments,
      version: 1,
    });
    if (doc === 'duplicate') throw duplicateName(input.name);
    let order: ChangeDoc;
    try {
      order = await this.log.append((latest) => {
        const ids = [...latest.ids];
        ids.splice(Math.min(ids.length, (input.priority ?? ids.length + 1) - 1), 0, id);
        return { ids, orderVersion: latest.orderVersion + 1, kind: 'profile.create', target: id };
      });
    } catch (error) {
      // Not in the order means not visible; remove it so its name is free again.
      await this.records.deleteProfile(id);
      throw error;
    }
    return { view: this.view(doc, order), order };
  }

  async update(
    id: string,
    input: UpdateProfileInput,
    expectedVersion: number,
  ): Promise<{ before: ProfileView; after: ProfileView; revision: number }> {
    const { view: before } = await this.get(id);
    if (before.version !== expectedVersion) throw staleProfile(before.version);
    if (input.assignments) {
      await assertKnownGroups(this.groups(), 'assignments.includedGroups', input.assignments.includedGroups);
      await assertKnownGroups(this.groups(), 'assignments.excludedGroups', input.assignments.excludedGroups);
    }
    const entity = `profile:${id}`;
    if (!(await this.log.claim(entity, expectedVersion + 1))) throw staleProfile(expectedVersion + 1);
    const set: Partial<ProfileDoc> = { version: expectedVersion + 1 };
    if (input.name !== undefined) Object.assign(set, { name: input.name, nameKey: nameKey(input.name) });
    if (input.description !== undefined) set.description = input.description;
    if (input.enrollmentType !== undefined) set.enrollmentType = input.enrollmentType;
    if (input.assignments !== undefined) set.assignments = input.assignments;
    let doc: ProfileDoc | 'duplicate' | undefined;
    try {
      doc = await this.records.updateProfile(id, set);
    } catch (error) {
      await this.log.release(entity, expectedVersion + 1);
      throw error;
    }
    if (doc === 'duplicate') {
      await this.log.release(entity, expectedVersion + 1);
      throw duplicateName(input.name ?? before.name);
    }
    if (!doc) throw new NotFoundProblem('no such enrollment profile');
    const change = await this.log.touch('profile.update', id);
    return { before, after: this.view(doc, change), revision: change._id };
  }

  async remove(id: string, expectedVersion: number | undefined): Promise<{ before: ProfileView; order: ChangeDoc }> {
    const { view: before } = await this.get(id);
    if (expectedVersion !== undefined && before.version !== expectedVersion) throw staleProfile(before.version);
    // Holding the next version stops an edit racing the delete.
    if (!(await this.log.claim(`profile:${id}`, before.version + 1))) throw staleProfile(before.version + 1);
    // Out of the order first: from then on no replica serves it, even if the delete below fails.
    const order = await this.log.append((latest) => ({
      ids: latest.ids.filter((other) => other !== id),
      orderVersion: latest.orderVersion + 1,
      kind: 'profile.delete',
      target: id,
    }));
    await this.records.deleteProfile(id);
    return { before, order };
  }

  /** Replaces the whole order; `order` must name every profile exactly once. */
  async reorder(newOrder: string[], expectedVersion: number): Promise<{ before: string[]; order: ChangeDoc }> {
    let before: string[] = [];
    const order = await this.log.append((latest) => {
      if (latest.orderVersion !== expectedVersion) throw new StaleOrderProblem(latest.orderVersion);
      assertPermutation(latest.ids, newOrder);
      before = latest.ids;
      return { ids: newOrder, orderVersion: latest.orderVersion + 1, kind: 'profile.reorder' };
    });
    return { before, order };
  }

  async move(id: string, toPosition: number, expectedVersion: number): Promise<{ before: string[]; order: ChangeDoc }> {
    let before: string[] = [];
    const order = await this.log.append((latest) => {
      if (!latest.ids.includes(id)) throw new NotFoundProblem('no such enrollment profile');
      if (latest.orderVersion !== expectedVersion) throw new StaleOrderProblem(latest.orderVersion);
      if (toPosition > latest.ids.length) {
        throw new ValidationProblem(`toPosition: must be between 1 and ${latest.ids.length}`, [
          { path: 'toPosition', message: `must be between 1 and ${latest.ids.length}` },
        ]);
      }
      const ids = latest.ids.filter((other) => other !== id);
      ids.splice(toPosition - 1, 0, id);
      before = latest.ids;
      return { ids, orderVersion: latest.orderVersion + 1, kind: 'profile.move', target: id };
    });
    return { before, order };
  }
}

function assertPermutation(current: readonly string[], proposed: readonly string[]): void {
  const unique = new Set(proposed);
  const known = new Set(current);
  const missing = current.filter((id) => !unique.has(id));
  const extra = proposed.filter((id) => !known.has(id));
  if (unique.size === proposed.length && missing.length === 0 && extra.length === 0) return;
  throw new ValidationProblem('order must list every profile exactly once', [
    ...(unique.size !== proposed.length ? [{ path: 'order', message: 'contains duplicates' }] : []),
    ...(missing.length > 0 ? [{ path: 'order', message: `missing: ${missing.join(', ')}` }] : []),
    ...(extra.length > 0 ? [{ path: 'order', message: `unknown profiles: ${extra.join(', ')}` }] : []),
  ]);
}

function staleProfile(currentVersion: number): ProblemError {
  return new ProblemError(409, 'Conflict', 'the profile changed since you read it; reload and try again', {
    extensions: { currentVersion },
  });
}
