import { randomUUID } from 'node:crypto';
import type { DeviceReadinessState, DeviceReadinessStep } from 'enrollment-gateway/sdk';
import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

export type StepName = 'install-app' | 'install-sso-profile' | 'confirm-app';
export const STEP_ORDER: readonly StepName[] = ['install-app', 'install-sso-profile', 'confirm-app'];
export type StepRecord = Omit<DeviceReadinessStep, 'name'>;

/**
 * What just-in-time registration put on one device, and how far it got. Three writers follow a device at once
 * (device.enrolled, command.result, the readiness job), and FerretDB applies an update by rewriting the whole
 * document, so two concurrent updates of one document lose one of them. So the device record is written only on
 * device.enrolled (a new run each time), and everything learned afterwards is an inserted observation of that
 * run; the readiness (steps and state) is folded from them when read.
 */
export interface JitDevice {
  deviceId: string;
  appBundleId: string;
  appStoreId: number;
  profileIdentifier: string;
  /** How the SSO profile reaches the device, decided once per run: InstallProfile, or a legacy declaration. */
  profileDelivery: ProfileDelivery;
  state: DeviceReadinessState;
  steps: Partial<Record<StepName, StepRecord>>;
  /** The ManagedApplicationList the readiness job is waiting for; one at a time so an offline queue stays short. */
  pendingListUuid?: string;
  updatedAt: Date;
}

export type ProfileDelivery = 'command' | 'declaration';

export interface JitRunStart {
  appBundleId: string;
  appStoreId: number;
  profileIdentifier: string;
  /** Absent on runs begun before declarations: 'command'. */
  profileDelivery?: ProfileDelivery;
}

export type JitObservation =
  | { kind: 'step'; step: StepName; record: StepRecord }
  | { kind: 'list-asked' | 'list-answered'; commandUuid: string }
  | { kind: 'not-managed' };

/** device.enrolled's role: starts a new run (what a re-enrollment queued replaces what came before). */
export interface JitRuns {
  /** Begins run `runId` for the device, unless it is already the device's run (a repeat of the same start). */
  begin(deviceId: string, runId: string, start: JitRunStart): Promise<void>;
}

/** Every role's: records what it learned about a run, by insert only. */
export interface JitObservations {
  /** `key` makes a repeated observation (a redelivered event) a no-op; omitted, every call records. */
  observe(deviceId: string, runId: string, observation: JitObservation, key?: string): Promise<void>;
}

export interface JitDeviceReader {
  /** The device with its current run folded; `runId` for the observations that follow. */
  get(deviceId: string): Promise<(JitDevice & { runId: string }) | undefined>;
}

export type JitDeviceStorage = JitRuns & JitObservations & JitDeviceReader;

interface DeviceDoc extends JitRunStart {
  _id: string;
  /** Absent on devices stored before runs: their legacy `steps` are the start of the fold. */
  runId?: string;
  state?: DeviceReadinessState;
  steps?: Partial<Record<StepName, StepRecord>>;
  pendingListUuid?: string;
  updatedAt: Date;
}

interface ObservationDoc {
  _id: string;
  deviceId: string;
  runId: string;
  kind: JitObservation['kind'];
  step?: StepName;
  record?: StepRecord;
  commandUuid?: string;
  at: Date;
}

const deviceSchema = new Schema<DeviceDoc>(
  {
    _id: { type: String, required: true },
    appBundleId: { type: String, required: true },
    appStoreId: { type: Number, required: true },
    profileIdentifier: { type: String, required: true },
    profileDelivery: String,
    runId: String,
    state: String,
    steps: Schema.Types.Mixed,
    pendingListUuid: String,
  },
  { collection: 'jit_devices', timestamps: true, versionKey: false, minimize: false },
);

const observationSchema = new Schema<ObservationDoc>(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true },
    runId: { type: String, required: true },
    kind: { type: String, required: true },
    step: String,
    record: Schema.Types.Mixed,
    commandUuid: String,
    at: { type: Date, required: true },
  },
  { collection: 'jit_device_observations', versionKey: false, minimize: false },
);
observationSchema.index({ runId: 1, at: 1 });

/** The run of a device stored before runs existed. */
const legacyRun = (deviceId: string) => `legacy:${deviceId}`;

export class MongoJitDevices implements JitDeviceStorage {
  private readonly devices: Model<DeviceDoc>;
  private readonly observations: Model<ObservationDoc>;

  constructor(connection: Connection) {
    this.devices = modelOn(connection, 'JitDevice', deviceSchema);
    this.observations = modelOn(connection, 'JitDeviceObservation', observationSchema);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.devices.init(), this.observations.init()]);
  }

  async begin(deviceId: string, runId: string, start: JitRunStart): Promise<void> {
    await this.devices
      .replaceOne(
        { _id: deviceId, runId: { $ne: runId } },
        { ...start, runId, updatedAt: new Date() },
        { upsert: true },
      )
      .catch((error: unknown) => {
        // The run is already the device's (its document matched nothing, and the upsert hit the existing _id).
        if (!isDuplicateKeyError(error)) throw error;
      });
  }

  async observe(deviceId: string, runId: string, observation: JitObservation, key?: string): Promise<void> {
    const doc: ObservationDoc = {
      _id: `${runId}:${key ?? randomUUID()}`,
      deviceId,
      runId,
      ...observation,
      at: new Date(),
    };
    try {
      await this.observations.create(doc);
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  async get(deviceId: string): Promise<(JitDevice & { runId: string }) | undefined> {
    const doc = await this.devices.findById(deviceId).lean<DeviceDoc>();
    if (!doc) return undefined;
    const runId = doc.runId ?? legacyRun(deviceId);
    const observations = await this.observations.find({ runId }).sort({ at: 1 }).lean<ObservationDoc[]>();
    return { runId, ...fold(doc, observations) };
  }
}

/** Steps merged in time order, the pending list question, and the state they add up to. */
export function fold(doc: DeviceDoc, observations: readonly ObservationDoc[]): JitDevice {
  const steps: Partial<Record<StepName, StepRecord>> = doc.runId ? {} : { ...(doc.steps ?? {}) };
  let pendingListUuid = doc.runId ? undefined : doc.pendingListUuid;
  let notManaged = false;
  let updatedAt = doc.updatedAt;
  for (const o of observations) {
    if (o.at > updatedAt) updatedAt = o.at;
    if (o.kind === 'step' && o.step && o.record) steps[o.step] = { ...steps[o.step], ...definedOnly(o.record) };
    else if (o.kind === 'list-asked') pendingListUuid = o.commandUuid;
    else if (o.kind === 'list-answered' && o.commandUuid === pendingListUuid) pendingListUuid = undefined;
    else if (o.kind === 'not-managed') notManaged = true;
  }
  return {
    deviceId: doc._id,
    appBundleId: doc.appBundleId,
    appStoreId: doc.appStoreId,
    profileIdentifier: doc.profileIdentifier,
    profileDelivery: doc.profileDelivery ?? 'command',
    state: stateOf(steps, notManaged),
    steps,
    pendingListUuid,
    updatedAt,
  };
}

function definedOnly(record: StepRecord): StepRecord {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined && v !== null)) as StepRecord;
}

function stateOf(steps: Partial<Record<StepName, StepRecord>>, notManaged: boolean): DeviceReadinessState {
  if (notManaged || STEP_ORDER.some((name) => steps[name]?.state === 'failed')) return 'needs-attention';
  if (steps['confirm-app']?.state === 'done') return 'ready';
  const app = steps['install-app']?.state;
  if (app === 'acknowledged' || app === 'done' || steps['confirm-app']) return 'installing';
  return 'pending';
}
