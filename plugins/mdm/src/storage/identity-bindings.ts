import { modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import type { ReportedDeviceInfo } from '../services/device-binding-cache.js';
import { insertOnce } from './models.js';

/**
 * Which device an identity certificate speaks for, keyed by the certificate's SHA-256: what the command
 * endpoint needs when its binding cache misses, in one read by `_id` instead of a certificate query by
 * fingerprint and a device query by UDID (each a scan on FerretDB, which serves no query from an index).
 *
 * Insert-only, and true for as long as the identity may sign at all: a certificate belongs to one enrollment and
 * an enrollment to one device, so none of these fields can change. When the device's binding moves to another
 * enrollment (Authenticate of a new enrollment, CheckOut, retirement) the old enrollment is revoked first, and
 * revocation is checked on every request whatever this record says. The record is written by the command path,
 * the first time it has proved the binding from the device and certificate records; every writer writes the same
 * content, so the unique insert's loser loses nothing. `reported` is what Authenticate said about the device at
 * that time: a starting point that the inventory's DeviceInformation record overrides.
 */
export interface IdentityBindingDoc {
  _id: string;
  deviceId: string;
  udid: string;
  enrollmentId: string;
  serial: string;
  reported: ReportedDeviceInfo;
  at: Date;
}

const identityBindingSchema = new Schema<IdentityBindingDoc>(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true },
    udid: { type: String, required: true },
    enrollmentId: { type: String, required: true },
    serial: { type: String, required: true },
    reported: { type: Schema.Types.Mixed, default: {} },
    at: { type: Date, required: true },
  },
  { collection: 'mdm_identity_bindings', versionKey: false, minimize: false },
);

/** The command path's store of proven identity bindings (storage role: insert and read by `_id`). */
export class IdentityBindings {
  private readonly model: Model<IdentityBindingDoc>;

  constructor(connection: Connection) {
    this.model = modelOn<IdentityBindingDoc>(connection, 'MdmIdentityBinding', identityBindingSchema);
  }

  async get(fingerprint: string): Promise<IdentityBindingDoc | null> {
    return this.model.findById(fingerprint).lean<IdentityBindingDoc>();
  }

  async remember(binding: IdentityBindingDoc): Promise<void> {
    await insertOnce(this.model, binding);
  }
}
