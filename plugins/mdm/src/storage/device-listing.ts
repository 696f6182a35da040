import { Types } from 'mongoose';
import type { PresenceDoc } from './device-records.js';
import type { DeviceDoc, MdmModels } from './models.js';

/** A place in a listing order: the sort value (last check-in, null for none) and the device id. */
export interface ListPosition {
  lastSeenAt: Date | null;
  id: string;
}

export interface ListBatchSpec {
  order: 'enrolled' | 'lastCheckIn';
  descending: boolean;
  userId?: string;
  lastSeenBefore?: Date;
  lastSeenAfter?: Date;
  /** Continue after this position (exclusive). */
  after?: ListPosition;
  size: number;
}

/** Positions between the two phases of the check-in order (see DeviceListing.byCheckIn). */
const FIRST_SEEN: ListPosition = { lastSeenAt: new Date(0), id: '000000000000000000000000' };
const LAST_UNSEEN: ListPosition = { lastSeenAt: null, id: 'ffffffffffffffffffffffff' };

export interface ListBatch {
  /** Bindings in list order, with their last check-in. */
  items: { binding: DeviceDoc; lastSeenAt: Date | null }[];
  /** Where the driving query stopped: continue after it. Undefined when the order is exhausted. */
  next?: ListPosition;
}

/**
 * The devices list's reads, in pages the database orders and bounds: the list is driven by one collection in
 * index order, `mdm_devices` by `_id` for the enrolled order (and `userId` when given), `mdm_presence` by
 * `{lastSeenAt, _id}` for the check-in order (with the check-in range), and only the devices of one batch are
 * assembled. Filters on fields other records hold (state, OS version, search) are the caller's, per batch.
 */
export class DeviceListing {
  constructor(private readonly models: MdmModels) {}

  async batch(spec: ListBatchSpec): Promise<ListBatch> {
    return spec.order === 'enrolled' ? this.byEnrollment(spec) : this.byCheckIn(spec);
  }

  private async byEnrollment(spec: ListBatchSpec): Promise<ListBatch> {
    const direction = spec.descending ? -1 : 1;
    const filter: Record<string, unknown> = {};
    if (spec.userId !== undefined) filter.userId = spec.userId;
    if (spec.after) filter._id = { [spec.descending ? '$lt' : '$gt']: new Types.ObjectId(spec.after.id) };
    const bindings = await this.models.devices
      .find(filter)
      .sort({ _id: direction })
      .limit(spec.size)
      .lean<DeviceDoc[]>();
    const presence = await this.presenceOf(bindings.map((b) => String(b._id)));
    const items = bindings.map((binding) => ({ binding, lastSeenAt: presence.get(String(binding._id)) ?? null }));
    const last = items[items.length - 1];
    return {
      items,
      next:
        bindings.length === spec.size && last
          ? { lastSeenAt: last.lastSeenAt, id: String(last.binding._id) }
          : undefined,
    };
  }

  /**
   * Devices that have checked in, from mdm_presence in `{lastSeenAt, _id}` order; devices that never checked in
   * have no presence record and come first ascending, last descending (as MongoDB orders missing values).
   * Such devices are rare (recorded by an older gateway and never seen since, or a crash inside Authenticate):
   * they are looked for, by comparing ids, only when the two collections' counts differ. One user's devices
   * are few: they are read by the `userId` index and ordered here.
   */
  private async byCheckIn(spec: ListBatchSpec): Promise<ListBatch> {
    if (spec.userId !== undefined) return this.ofUser(spec);
    const ranged = spec.lastSeenAfter !== undefined || spec.lastSeenBefore !== undefined;
    const unseenPhase = spec.after?.lastSeenAt === null;
    if (!ranged && (spec.descending ? unseenPhase : spec.after === undefined || unseenPhase)) {
      const unseen = await this.unseen(spec);
      const last = unseen[unseen.length - 1];
      if (last && unseen.length === spec.size)
        return { items: unseen.map((u) => u.item), next: { lastSeenAt: null, id: last.id } };
      if (spec.descending) return { items: unseen.map((u) => u.item) };
      // Ascending, the checked-in devices follow the never-seen ones.
      if (unseen.length > 0) return { items: unseen.map((u) => u.item), next: FIRST_SEEN };
    }
    const seen = await this.seen(spec);
    if (seen.next || !spec.descending || ranged) return seen;
    // Descending: the checked-in devices are done; the never-seen ones follow.
    return { items: seen.items, next: LAST_UNSEEN };
  }

  private async seen(spec: ListBatchSpec): Promise<ListBatch> {
    const gt = spec.descending ? '$lt' : '$gt';
    const clauses: Record<string, unknown>[] = [];
    if (spec.lastSeenAfter) clauses.push({ lastSeenAt: { $gte: spec.lastSeenAfter } });
    if (spec.lastSeenBefore) clauses.push({ lastSeenAt: { $lt: spec.lastSeenBefore } });
    const after = spec.after?.lastSeenAt ? spec.after : undefined;
    if (after)
      clauses.push({
        $or: [{ lastSeenAt: { [gt]: after.lastSeenAt } }, { lastSeenAt: after.lastSeenAt, _id: { [gt]: after.id } }],
      });
    const direction = spec.descending ? -1 : 1;
    const presence = await this.models.presence
      .find(clauses.length > 0 ? { $and: clauses } : {})
      .sort({ lastSeenAt: direction, _id: direction })
      .limit(spec.size)
      .lean<PresenceDoc[]>();
    const ids = presence.flatMap((p) => (Types.ObjectId.isValid(p._id) ? [new Types.ObjectId(p._id)] : []));
    const bindings = new Map(
      (await this.models.devices.find({ _id: { $in: ids } }).lean<DeviceDoc[]>()).map(
        (b) => [String(b._id), b] as const,
      ),
    );
    const items = presence.flatMap((p) => {
      const binding = bindings.get(p._id);
      return binding ? [{ binding, lastSeenAt: p.lastSeenAt }] : [];
    });
    const last = presence[presence.length - 1];
    return {
      items,
      next: presence.length === spec.size && last ? { lastSeenAt: last.lastSeenAt, id: last._id } : undefined,
    };
  }

  /** Devices without a presence record after `spec.after` in id order (see byCheckIn): usually none. */
  private async unseen(spec: ListBatchSpec): Promise<{ id: string; item: ListBatch['items'][number] }[]> {
    const [devices, presence] = await Promise.all([
      this.models.devices.estimatedDocumentCount(),
      this.models.presence.estimatedDocumentCount(),
    ]);
    if (devices <= presence) return [];
    const ids = (await this.models.devices.find({}, { _id: 1 }).lean<{ _id: Types.ObjectId }[]>()).map((d) =>
      String(d._id),
    );
    const seen = await this.presenceOf(ids);
    const after = spec.after?.lastSeenAt === null ? spec.after.id : undefined;
    const unseen = ids
      .filter((id) => !seen.has(id) && (after === undefined || (spec.descending ? id < after : id > after)))
      .sort();
    if (spec.descending) unseen.reverse();
    const page = unseen.slice(0, spec.size);
    const bindings = await this.models.devices
      .find({ _id: { $in: page.map((id) => new Types.ObjectId(id)) } })
      .lean<DeviceDoc[]>();
    const byId = new Map(bindings.map((b) => [String(b._id), b] as const));
    return page.flatMap((id) => {
      const binding = byId.get(id);
      return binding ? [{ id, item: { binding, lastSeenAt: null } }] : [];
    });
  }

  /** One user's devices (a handful), read whole by the `userId` index and ordered by last check-in here. */
  private async ofUser(spec: ListBatchSpec): Promise<ListBatch> {
    const bindings = await this.models.devices.find({ userId: spec.userId }).lean<DeviceDoc[]>();
    const presence = await this.presenceOf(bindings.map((b) => String(b._id)));
    const sign = spec.descending ? -1 : 1;
    const key = (lastSeenAt: Date | null) => lastSeenAt?.getTime() ?? -1;
    const compare = (a: ListPosition, b: ListPosition) =>
      sign * (key(a.lastSeenAt) - key(b.lastSeenAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const items = bindings
      .map((binding) => ({ binding, lastSeenAt: presence.get(String(binding._id)) ?? null }))
      .filter(
        (item) => !spec.after || compare({ lastSeenAt: item.lastSeenAt, id: String(item.binding._id) }, spec.after) > 0,
      )
      .sort((a, b) =>
        compare(
          { lastSeenAt: a.lastSeenAt, id: String(a.binding._id) },
          { lastSeenAt: b.lastSeenAt, id: String(b.binding._id) },
        ),
      );
    return { items };
  }

  private async presenceOf(ids: readonly string[]): Promise<Map<string, Date>> {
    if (ids.length === 0) return new Map();
    const docs = await this.models.presence.find({ _id: { $in: ids } }).lean<PresenceDoc[]>();
    return new Map(docs.map((d) => [d._id, d.lastSeenAt] as const));
  }
}
