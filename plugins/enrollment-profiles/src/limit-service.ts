import { randomUUID } from 'node:crypto';
import { NotFoundProblem, ProblemError, type UserDirectory, ValidationProblem } from 'enrollment-gateway/sdk';
import type { ChangeLog } from './change-log.js';
import { assertKnownGroups, nameKey } from './profile-service.js';
import type { CreateLimitPolicyInput, UpdateLimitPolicyInput } from './schemas.js';
import type { LimitPolicyDoc, LimitPolicyRecords } from './storage/enrollment-records.js';

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
export class LimitPolicyService {
  constructor(
    private readonly records: LimitPolicyRecords,
    private readonly log: ChangeLog,
    private readonly groups: () => UserDirectory | undefined,
  ) {}

  /** Name and priority are both unique, and not every server names the index in the error: look. */
  private async duplicate(input: { priority?: number }, exceptId?: string): Promise<ValidationProblem> {
    if (input.priority === undefined) return duplicateOf('name');
    const holder = await this.records.policyWithPriority(input.priority);
    return duplicateOf(holder && holder !== exceptId ? 'priority' : 'name');
  }

  async list(): Promise<LimitPolicyView[]> {
    return (await this.records.allPolicies()).map(view);
  }

  async get(id: string): Promise<LimitPolicyView> {
    const doc = await this.records.policy(id);
    if (!doc) throw new NotFoundProblem('no such device limit policy');
    return view(doc);
  }

  async create(input: CreateLimitPolicyInput): Promise<LimitPolicyView> {
    await assertKnownGroups(this.groups(), 'groups', input.groups);
    const doc = await this.records.insertPolicy({
      _id: randomUUID(),
      ...input,
      nameKey: nameKey(input.name),
      version: 1,
    });
    if (doc === 'duplicate') throw await this.duplicate(input);
    return view(doc);
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
    const set: Partial<LimitPolicyDoc> = { ...fields, version: expectedVersion + 1 };
    if (input.name !== undefined) set.nameKey = nameKey(input.name);
    let doc: LimitPolicyDoc | 'duplicate' | undefined;
    try {
      doc = await this.records.updatePolicy(id, set);
    } catch (error) {
      await this.log.release(entity, expectedVersion + 1);
      throw error;
    }
    if (doc === 'duplicate') {
      await this.log.release(entity, expectedVersion + 1);
      throw await this.duplicate(input, id);
    }
    if (!doc) throw new NotFoundProblem('no such device limit policy');
    return { before, after: view(doc) };
  }

  async remove(id: string, expectedVersion: number | undefined): Promise<LimitPolicyView> {
    const before = await this.get(id);
    if (expectedVersion !== undefined && before.version !== expectedVersion) throw stale(before.version);
    if (!(await this.log.claim(`limit-policy:${id}`, before.version + 1))) throw stale(before.version + 1);
    await this.records.deletePolicy(id);
    return before;
  }
}

function stale(currentVersion: number): ProblemError {
  return new ProblemError(409, 'Conflict', 'the policy changed since you read it; reload and try again', {
    extensions: { currentVersion },
  });
}
