import type { DeviceRecord } from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import {
  type FactDoc,
  type FactKind,
  type InventoryDoc,
  type PresenceDoc,
  type PushCredentialDoc,
  pushCredentialId,
  pushInvalidId,
} from './device-records.js';
import type { DeviceDoc, DeviceState, MdmModels } from './models.js';

/** Lifecycle facts of one enrollment that decide its state, strongest first. */
const STATE_ORDER: [FactKind, DeviceState][] = [
  ['retired', 'retired'],
  ['checked-out', 'checked-out'],
  ['retiring', 'retiring'],
  ['enrolled', 'enrolled'],
];

/** The device state from its enrollment's facts: the strongest transition recorded, 'pending' before any. */
export function stateOf(facts: ReadonlyMap<FactKind, FactDoc>): DeviceState {
  for (const [kind, state] of STATE_ORDER) if (facts.has(kind)) return state;
  return 'pending';
}

/** Everything known about one device, assembled from its records (each written by its own role). */
export interface DeviceView {
  binding: DeviceDoc;
  state: DeviceState;
  facts: Map<FactKind, FactDoc>;
  presence?: PresenceDoc;
  inventory: Map<InventoryDoc['kind'], InventoryDoc>;
  push?: PushCredentialDoc;
  pushInvalid: boolean;
}

const byKey = <T, K>(docs: readonly T[], key: (doc: T) => K) => {
  const out = new Map<K, T[]>();
  for (const doc of docs) out.set(key(doc), [...(out.get(key(doc)) ?? []), doc]);
  return out;
};

/**
 * Reads device records in bulk: one query per record kind for any number of devices (all by _id or an
 * indexed field), never a join (the test database has no $lookup).
 */
export class DeviceViews {
  constructor(private readonly models: MdmModels) {}

  async ofBindings(bindings: readonly DeviceDoc[]): Promise<DeviceView[]> {
    if (bindings.length === 0) return [];
    const ids = bindings.map((b) => String(b._id));
    const enrollmentIds = bindings.flatMap((b) => (b.enrollmentId ? [b.enrollmentId] : []));
    const credentialIds = bindings.flatMap((b) =>
      b.enrollmentId ? [pushCredentialId(String(b._id), b.enrollmentId)] : [],
    );
    const [facts, presence, inventory, credentials] = await Promise.all([
      this.models.facts.find({ enrollmentId: { $in: enrollmentIds } }).lean<FactDoc[]>(),
      this.models.presence.find({ _id: { $in: ids } }).lean<PresenceDoc[]>(),
      this.models.inventory.find({ deviceId: { $in: ids } }).lean<InventoryDoc[]>(),
      this.models.pushCredentials.find({ _id: { $in: credentialIds } }).lean<PushCredentialDoc[]>(),
    ]);
    const invalid = credentials.length
      ? await this.models.pushInvalid.find({ _id: { $in: credentials.map(pushInvalidId) } }, { _id: 1 }).lean()
      : [];
    const invalidIds = new Set(invalid.map((d) => String(d._id)));
    const factsByEnrollment = byKey(facts, (f) => f.enrollmentId);
    const presenceById = new Map(presence.map((p) => [p._id, p]));
    const inventoryByDevice = byKey(inventory, (i) => i.deviceId);
    const credentialById = new Map(credentials.map((c) => [c._id, c]));
    return bindings.map((binding) => {
      const id = String(binding._id);
      const own = new Map((factsByEnrollment.get(binding.enrollmentId ?? '') ?? []).map((f) => [f.kind, f]));
      const push = binding.enrollmentId ? credentialById.get(pushCredentialId(id, binding.enrollmentId)) : undefined;
      return {
        binding,
        state: stateOf(own),
        facts: own,
        presence: presenceById.get(id),
        inventory: new Map(
          (inventoryByDevice.get(id) ?? [])
            .filter((doc) => doc.enrollmentId === binding.enrollmentId)
            .map((doc) => [doc.kind, doc]),
        ),
        push,
        pushInvalid: push ? invalidIds.has(pushInvalidId(push)) : false,
      };
    });
  }

  async byIds(deviceIds: readonly string[]): Promise<DeviceView[]> {
    const ids = deviceIds.filter((id) => Types.ObjectId.isValid(id)).map((id) => new Types.ObjectId(id));
    if (ids.length === 0) return [];
    return this.ofBindings(await this.models.devices.find({ _id: { $in: ids } }).lean<DeviceDoc[]>());
  }

  async byId(deviceId: string): Promise<DeviceView | undefined> {
    return (await this.byIds([deviceId]))[0];
  }

  async byUdid(udid: string): Promise<DeviceView | undefined> {
    const binding = await this.models.devices.findOne({ udid }).lean<DeviceDoc>();
    return binding ? (await this.ofBindings([binding]))[0] : undefined;
  }

  async find(filter: Record<string, unknown>): Promise<DeviceView[]> {
    return this.ofBindings(await this.models.devices.find(filter).sort({ _id: 1 }).lean<DeviceDoc[]>());
  }

  /** Only the bindings and states of these devices (two queries): what enqueueing needs. */
  async states(deviceIds: readonly string[]): Promise<{ binding: DeviceDoc; state: DeviceState }[]> {
    const ids = deviceIds.filter((id) => Types.ObjectId.isValid(id)).map((id) => new Types.ObjectId(id));
    if (ids.length === 0) return [];
    const bindings = await this.models.devices.find({ _id: { $in: ids } }, { enrollmentId: 1 }).lean<DeviceDoc[]>();
    const enrollmentIds = bindings.flatMap((b) => (b.enrollmentId ? [b.enrollmentId] : []));
    const facts = await this.models.facts
      .find({ enrollmentId: { $in: enrollmentIds } }, { enrollmentId: 1, kind: 1 })
      .lean<FactDoc[]>();
    const byEnrollment = byKey(facts, (f) => f.enrollmentId);
    return bindings.map((binding) => ({
      binding,
      state: stateOf(new Map((byEnrollment.get(binding.enrollmentId ?? '') ?? []).map((f) => [f.kind, f]))),
    }));
  }

  /** Facts of one enrollment, by kind. */
  async factsOf(enrollmentId: string): Promise<Map<FactKind, FactDoc>> {
    const docs = await this.models.facts.find({ enrollmentId }).lean<FactDoc[]>();
    return new Map(docs.map((d) => [d.kind, d]));
  }
}

/** The SDK's view of a device. */
export function toDeviceRecord(view: DeviceView): DeviceRecord {
  const { binding } = view;
  const info = { ...pickInfo(binding), ...(view.inventory.get('info')?.info ?? {}) };
  return {
    id: String(binding._id),
    udid: binding.udid,
    ...(binding.userEnrollment ? { userEnrollment: true } : {}),
    userId: binding.userId,
    enrollmentId: binding.enrollmentId,
    state: view.state,
    model: info.model,
    productName: info.productName,
    osVersion: info.osVersion,
    serialNumber: info.serialNumber,
    deviceName: info.deviceName,
    enrolledAt: view.facts.get('enrolled')?.at,
    lastSeenAt: view.presence?.lastSeenAt,
    createdAt: binding.createdAt,
    pushable: Boolean(view.push && !view.pushInvalid),
    managedApps: view.inventory.get('apps')?.managedApps ?? [],
    installedProfiles: view.inventory.get('profiles')?.installedProfiles ?? [],
  };
}

function pickInfo(doc: DeviceDoc) {
  const { model, productName, osVersion, buildVersion, serialNumber, deviceName } = doc;
  return Object.fromEntries(
    Object.entries({ model, productName, osVersion, buildVersion, serialNumber, deviceName }).filter(
      ([, v]) => v !== undefined && v !== null,
    ),
  ) as Partial<DeviceDoc>;
}
