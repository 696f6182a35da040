import type { Connection, MongooseQueryMiddleware, Query, Schema } from 'mongoose';

/** The device fields that decide whether a signing identity may speak for a device (see onDeviceBindingChange). */
const BINDING_FIELDS = new Set(['udid', 'state', 'identityFingerprints', 'identityRevoked']);
const bindingListeners = new WeakMap<Connection, () => Promise<void>>();

/**
 * Calls `listener` after every write through this connection's device model that can change which identity
 * may sign for which device: enrollment, check-out, revocation, renewal, retirement, deletion. The device-auth
 * cache drops its entries there, so no service can forget to: a revocation made by any code path reaches every
 * replica's next request. Writes that bypass mongoose (`collection.*`, `bulkWrite`) are not seen.
 */
export function onDeviceBindingChange(connection: Connection, listener: () => Promise<void>): void {
  bindingListeners.set(connection, listener);
}

function touchesBinding(update: unknown): boolean {
  // A pipeline or a replacement may set anything.
  if (!update || typeof update !== 'object' || Array.isArray(update)) return true;
  for (const [key, value] of Object.entries(update)) {
    const fields = key.startsWith('$') ? Object.keys((value as object | null) ?? {}) : [key];
    if (fields.some((field) => BINDING_FIELDS.has(field.split('.')[0]))) return true;
  }
  return false;
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
async function bindingWritten(this: DeviceQuery): Promise<void> {
  if (touchesBinding(this.getUpdate())) await bindingListeners.get(this.model.db)?.();
}
async function bindingRemoved(this: DeviceQuery): Promise<void> {
  await bindingListeners.get(this.model.db)?.();
}

/** Installs the hooks on the device schema (once, where it is defined). */
export function watchBindingWrites(schema: Schema): void {
  schema.post<DeviceQuery>(deviceWrites, queryOnly, bindingWritten);
  schema.post<DeviceQuery>(deviceRemovals, queryOnly, bindingRemoved);
  // A write that failed on the way back may still have been applied.
  schema.post<DeviceQuery>(deviceWrites, { ...queryOnly, errorHandler: true }, bindingWritten);
  schema.post<DeviceQuery>(deviceRemovals, { ...queryOnly, errorHandler: true }, bindingRemoved);
}
