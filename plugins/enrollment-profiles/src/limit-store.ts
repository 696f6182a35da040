import { randomUUID } from 'node:crypto';
import { NotFoundProblem, ProblemError, type UserDirectory, ValidationProblem } from 'enrollment-gateway/sdk';
import type { ChangeLog } from './change-log.js';
import { type EnrollmentModels, isDuplicateKey, type LimitPolicyDoc } from './models.js';
import { assertKnownGroups, nameKey } from './profile-store.js';
import type { CreateLimitPolicyInput, UpdateLimitPolicyInput } from './schemas.js';

export interface LimitPolicyView {
  id: string;
  name: string;
  groups: string[];
  limit: number;
  priority: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const view = (doc: LimitPolicyDoc): LimitPolicyView => ({
  id: doc._id,
  name: doc.name,
  groups: doc.groups,
  limit: doc.limit,
  priority: doc.priority,
  version: doc.version,
  createdAt: doc.createdAt,
  updatedAt: doc.updatedAt,
});

function duplicateOf(field: 'name' | 'priority'): ValidationProblem {
  return new ValidationProblem(`${field}: already used by another device limit policy`, [
    { path: field, message: 'already used by another device limit policy' },
  ]);
}

/** Device limit policies per group; the first policy (lowest priority number) naming a user's group applies. */
export class LimitPolicyStore {
  constructor(
    private readonly models: EnrollmentModels,
    private readonly log: ChangeLog,
    private readonly groups: () => UserDirectory | undefined,
  ) {}

  /** Name and priority are both unique, and not every server names the index in the error: look. */
  private async duplicate(input: { priority?: number }, exceptId?: string): Promise<ValidationProblem> {
    if (input.priority === undefined) return duplicateOf('name');
    const holder = await this.models.limitPolicies.findOne({ priority: input.priority }, { _id: 1 }).lean();
    return duplicateOf(holder && holder._id !== exceptId ? 'priority' : 'name');
  }

  async list(): Promise<LimitPolicyView[]> {
    const docs = (await this.models.limitPolicies.find().sort({ priority: 1 }).lean()) as LimitPolicyDoc[];
    return docs.map(view);
  }

  async get(id: string): Promise<LimitPolicyView> {
    const doc = (await this.models.limitPolicies.findById(id).lean()) as LimitPolicyDoc | null;
    if (!doc) throw new NotFoundProblem('no such device limit policy');
    return view(doc);
  }

  async create(input: CreateLimitPolicyInput): Promise<LimitPolicyView> {
    await assertKnownGroups(this.groups(), 'groups', input.groups);
    try {
      const doc = await this.models.limitPolicies.create({
        _id: randomUUID(),
        ...input,
        nameKey: nameKey(input.name),
        version: 1,
      });
      return view(doc.toObject() as LimitPolicyDoc);
    } catch (error) {
      if (isDuplicateKey(error)) throw await this.duplicate(input);
      throw error;
    }
  }

  async update(
    id: string,
    input: UpdateLimitPolicyInput,
    expectedVersion: number,
  ): Promise<{ before: LimitPolicyView; after: LimitPolicyView }> {
    const before = await this.get(id);
    if (before.version !== expectedVersion) throw stale(before.version);
    if (input.groups) await assertKnownGroups(this.groups(), 'groups', input.groups);
    const { version: _ignored, ...fields } = input;
    const entity = `limit-policy:${id}`;
    if (!(await this.log.claim(entity, expectedVersion + 1))) throw stale(expectedVersion + 1);
    const set: Record<string, unknown> = { ...fields, version: expectedVersion + 1 };
    if (input.name !== undefined) set.nameKey = nameKey(input.name);
    let doc: LimitPolicyDoc | null;
    try {
      doc = (await this.models.limitPolicies
        .findByIdAndUpdate(id, { $set: set }, { returnDocument: 'after' })
        .lean()) as LimitPolicyDoc | null;
    } catch (error) {
      await this.log.release(entity, expectedVersion + 1);
      if (isDuplicateKey(error)) throw await this.duplicate(input, id);
      throw error;
    }
    if (!doc) throw new NotFoundProblem('no such device limit policy');
    return { before, after: view(doc) };
  }

  async remove(id: string, expectedVersion: number | undefined): Promise<LimitPolicyView> {
    const before = await this.get(id);
    if (expectedVersion !== undefined && before.version !== expectedVersion) throw stale(before.version);
    if (!(await this.log.claim(`limit-policy:${id}`, before.version + 1))) throw stale(before.version + 1);
    await this.models.limitPolicies.deleteOne({ _id: id });
    return before;
  }
}

function stale(currentVersion: number): ProblemError {
  return new ProblemError(409, 'Conflict', 'the policy changed since you read it; reload and try again', {
    extensions: { currentVersion },
  });
}
