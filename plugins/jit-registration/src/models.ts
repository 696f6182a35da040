import type { DeviceReadinessState, DeviceReadinessStep } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

export type StepName = 'install-app' | 'install-sso-profile' | 'confirm-app';
export const STEP_ORDER: readonly StepName[] = ['install-app', 'install-sso-profile', 'confirm-app'];

/** What just-in-time registration put on one device, and how far it got. */
export interface JitDeviceDoc {
  _id: string;
  appBundleId: string;
  appStoreId: number;
  profileIdentifier: string;
  state: DeviceReadinessState;
  steps: Partial<Record<StepName, Omit<DeviceReadinessStep, 'name'>>>;
  /** The ManagedApplicationList the readiness job is waiting for; one at a time so an offline device's queue stays short. */
  pendingListUuid?: string;
  createdAt: Date;
  updatedAt: Date;
}

const deviceSchema = new Schema<JitDeviceDoc>(
  {
    _id: { type: String, required: true },
    appBundleId: { type: String, required: true },
    appStoreId: { type: Number, required: true },
    profileIdentifier: { type: String, required: true },
    state: { type: String, required: true },
    steps: { type: Schema.Types.Mixed, default: {} },
    pendingListUuid: { type: String },
  },
  { collection: 'jit_devices', timestamps: true, versionKey: false, minimize: false },
);

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

export function jitModels(connection: Connection) {
  return {
    devices: model(connection, 'JitDevice', deviceSchema),
  };
}

export type JitModels = ReturnType<typeof jitModels>;
