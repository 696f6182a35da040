import type { Connection, MongooseQueryMiddleware, Query, Schema } from 'mongoose';

/** The device fields that decide whether a signing identity may speak for a device (see onDeviceBindingChange). */
const BINDING_FIELDS = new Set(['udid', 'enrollmentId', 'state', 'identityFingerprints', 'identityRevoked']);
/** Called with the UDID a write named, or undefined when the write may have touched any device. */
type BindingListener = (udid: string | undefined) => Promise<void>;
const bindingListeners = new WeakMap<Connection, BindingListener>();

/**
 * Calls `listener` after every write through this connection's device model that can change which identity
 * may sign for which device: enrollment, check-out, revocation, renewal, retirement, deletion. The device-auth
 * cache drops its entries there, so no service can forget to: a revocation made by any code path reaches every
 * replica's next request. The listener gets the UDID when the write's filter names exactly one (Authenticate
 * writes by UDID), else undefined. Writes that bypass mongoose (`collection.*`, `bulkWrite`) are not seen.
 */
export function onDeviceBindingChange(connection: Connection, listener: BindingListener): void {
  bindingListeners.set(connection, listener);
}

function fieldsOf(update: object): string[] {
  return Object.entries(update).flatMap(([key, value]) =>
    key.startsWith('$') ? Object.keys((value as object | null) ?? {}) : [key],
  );
}

function touchesBinding(update: unknown): boolean {
  // A pipeline or a replacement may set anything.
  if (!update || typeof update !== 'object' || Array.isArray(update)) return true;
  return fieldsOf(update).some((field) => BINDING_FIELDS.has(field.split('.')[0]));
}

type DeviceQuery = Query<unknown, unknown>;
const deviceWrites: MongooseQueryMiddleware[] = ['updateOne', 'updateMany', 'findOneAndUpdate'];
const deviceRemovals: MongooseQueryMiddleware[] = [
  'replaceOne',
  'findOneAndReplace',
  'deleteOne',
  'deleteMany',
  'findOneAndDelete',
];
const queryOnly = { document: false, query: true } as const;
/**
 * The one UDID a write is confined to: its filter names it (`{udid: "…"}`, possibly with more conditions) and the
 * update does not move it to another. Else undefined.
 */
function udidOf(filter: Record<string, unknown>, update?: unknown): string | undefined {
  if (update && typeof update === 'object' && !Array.isArray(update) && fieldsOf(update).includes('udid'))
    return undefined;
  return typeof filter.udid === 'string' ? filter.udid : undefined;
}
async function bindingWritten(this: DeviceQuery): Promise<void> {
  const update = this.getUpdate();
  if (touchesBinding(update)) await bindingListeners.get(this.model.db)?.(udidOf(this.getFilter(), update));
}
async function bindingRemoved(this: DeviceQuery): Promise<void> {
  // A replacement (its update) may name another UDID; a deletion is confined to its filter's.
  await bindingListeners.get(this.model.db)?.(udidOf(this.getFilter(), this.getUpdate()));
}

/** Installs the hooks on the device schema (once, where it is defined). */
export function watchBindingWrites(schema: Schema): void {
  schema.post<DeviceQuery>(deviceWrites, queryOnly, bindingWritten);
  schema.post<DeviceQuery>(deviceRemovals, queryOnly, bindingRemoved);
  // A write that failed on the way back may still have been applied.
  schema.post<DeviceQuery>(deviceWrites, { ...queryOnly, errorHandler: true }, bindingWritten);
  schema.post<DeviceQuery>(deviceRemovals, { ...queryOnly, errorHandler: true }, bindingRemoved);
}
