import { ConflictProblem } from 'enrollment-gateway/sdk';
import { type ChangeDoc, type ChangeEntries, EMPTY_CHANGE, type VersionClaims } from './storage/enrollment-records.js';

/** Entries behind the newest that keep their full order; older ones keep only kind and target. */
const KEEP = 20;
const MAX_ATTEMPTS = 50;
/** Callers check the entity's version before claiming, so an older claim guarded a write that never happened. */
const ABANDONED_CLAIM_MS = 60_000;

export type ChangeDraft = Pick<ChangeDoc, 'orderVersion' | 'ids' | 'kind'> & { target?: string };

/**
 * Serializes every change to profiles and limit policies without transactions. Writers read the
 * newest entry, decide, and insert entry n+1; a duplicate key means someone else changed things
 * first, so the writer decides again from the new state (or gives up with 409).
 */
export class ChangeLog {
  /** The newest entry this process has seen. Entries never change within KEEP of the head. */
  private head: ChangeDoc | undefined;
  constructor(private readonly records: ChangeEntries & VersionClaims) {}

  /** One entry by sequence number: a primary-key lookup, fast on every backend. */
  async entry(id: number): Promise<ChangeDoc | undefined> {
    if (id < 1) return undefined;
    return this.records.entry(id);
  }

  /**
   * The newest entry, found by probing sequence numbers up from the last one seen (galloping, then
   * binary search) rather than sorting: FerretDB answers a sort by scanning the whole collection.
   * Usually one lookup, which misses.
   */
  async latest(): Promise<ChangeDoc> {
    let low = this.head ?? EMPTY_CHANGE;
    let step = 1;
    let missing: number;
    for (;;) {
      const next = await this.entry(low._id + step);
      if (!next) {
        missing = low._id + step;
        break;
      }
      low = next;
      step *= 2;
    }
    while (missing - low._id > 1) {
      const middle = Math.floor((low._id + missing) / 2);
      const found = await this.entry(middle);
      if (found) low = found;
      else missing = middle;
    }
    if (!this.head || low._id > this.head._id) this.head = low;
    return low;
  }

  /**
   * Appends what `decide` returns for the newest state. `decide` runs again after every lost race
   * and may throw (a stale client version) to stop.
   */
  async append(decide: (latest: ChangeDoc) => ChangeDraft): Promise<ChangeDoc> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const latest = await this.latest();
      const draft = decide(latest);
      const entry: ChangeDoc = { _id: latest._id + 1, ...draft, at: new Date() };
      if (!(await this.records.appendEntry(entry))) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * (attempt + 1)));
        continue;
      }
      if (!this.head || entry._id > this.head._id) this.head = entry;
      if (entry._id % 10 === 0) {
        // Entries are never deleted (their ids are what makes appends exclusive); old ones shed the order.
        await this.records.shedOrders(entry._id - KEEP - 10, entry._id - KEEP);
      }
      return entry;
    }
    throw new ConflictProblem('profiles are changing too often; try again');
  }

  /** A change that leaves the order alone (an edit): only the revision moves. */
  touch(kind: string, target: string): Promise<ChangeDoc> {
    return this.append((latest) => ({ orderVersion: latest.orderVersion, ids: latest.ids, kind, target }));
  }

  /**
   * Claims `version` of an entity; false when another writer already holds it. A claim whose
   * write never followed (the process died in between) is taken over after a minute.
   */
  async claim(entity: string, version: number): Promise<boolean> {
    const id = `${entity}@${version}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.records.insertClaim(id, new Date())) return true;
      const heldSince = await this.records.claimedAt(id);
      if (heldSince && Date.now() - heldSince.getTime() < ABANDONED_CLAIM_MS) return false;
      await this.records.deleteClaim(id, heldSince);
    }
    return false;
  }

  /** Gives a claim back when the write it guarded failed (a duplicate name, say). */
  async release(entity: string, version: number): Promise<void> {
    await this.records.deleteClaim(`${entity}@${version}`);
  }
}
