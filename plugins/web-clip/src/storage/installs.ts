import { isDuplicateKeyError, modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

export type InstallState = 'queued' | 'installed' | 'failed' | 'removed';
/** InstallProfile, or a legacy declaration served by the ddm plugin (then `commandUuid` names the delivery only). */
export type InstallDelivery = 'command' | 'declaration';

export interface WebClipInstall {
  deviceId: string;
  identifier: string;
  label: string;
  commandUuid: string;
  delivery: InstallDelivery;
  state: InstallState;
  detail?: string;
  updatedAt: Date;
}

/**
 * Per device: the web clip profile sent, and what became of it. Three records, each written by one role, because
 * FerretDB applies an update by rewriting the whole document and two concurrent updates of one document lose one:
 * - the install (web_clip_installs, per device): written only on device.enrolled;
 * - the device's answer (web_clip_answers, per command): inserted once on command.result;
 * - the removal (web_clip_removals, per command): inserted once on device.unenrolled.
 * A new enrollment sends a new command, so an older answer or removal no longer applies.
 */
export interface WebClipInstallRecords {
  queued(
    deviceId: string,
    identifier: string,
    label: string,
    commandUuid: string,
    delivery?: InstallDelivery,
  ): Promise<void>;
  /** Records the answer when `commandUuid` is the device's web clip command (other InstallProfiles pass by). */
  answered(deviceId: string, commandUuid: string, state: 'installed' | 'failed', detail?: string): Promise<void>;
  removed(deviceId: string): Promise<void>;
  get(deviceId: string): Promise<WebClipInstall | undefined>;
}

interface InstallDoc {
  _id: string;
  identifier: string;
  label: string;
  commandUuid: string;
  /** Absent on installs stored before declarations: 'command'. */
  delivery?: InstallDelivery;
  /** Kept by installs stored before answers and removals had their own records. */
  state?: InstallState;
  detail?: string;
  updatedAt: Date;
}

interface OutcomeDoc {
  _id: string;
  deviceId: string;
  state: InstallState;
  detail?: string;
  at: Date;
}

const installSchema = new Schema<InstallDoc>(
  {
    _id: { type: String, required: true },
    identifier: { type: String, required: true },
    label: { type: String, required: true },
    commandUuid: { type: String, required: true },
    delivery: String,
    state: String,
    detail: String,
  },
  { collection: 'web_clip_installs', versionKey: false, timestamps: { createdAt: false, updatedAt: true } },
);
installSchema.index({ commandUuid: 1 });

const outcomeSchema = (collection: string) =>
  new Schema<OutcomeDoc>(
    {
      _id: { type: String, required: true },
      deviceId: { type: String, required: true },
      state: { type: String, required: true },
      detail: String,
      at: { type: Date, required: true },
    },
    { collection, versionKey: false },
  );

async function insertOnce(model: Model<OutcomeDoc>, doc: OutcomeDoc): Promise<void> {
  try {
    await model.create(doc);
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
  }
}

export class MongoWebClipInstalls implements WebClipInstallRecords {
  private readonly installs: Model<InstallDoc>;
  private readonly answers: Model<OutcomeDoc>;
  private readonly removals: Model<OutcomeDoc>;

  constructor(connection: Connection) {
    this.installs = modelOn(connection, 'WebClipInstall', () => installSchema);
    this.answers = modelOn(connection, 'WebClipAnswer', () => outcomeSchema('web_clip_answers'));
    this.removals = modelOn(connection, 'WebClipRemoval', () => outcomeSchema('web_clip_removals'));
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([this.installs.init(), this.answers.init(), this.removals.init()]);
  }

  async queued(
    deviceId: string,
    identifier: string,
    label: string,
    commandUuid: string,
    delivery: InstallDelivery = 'command',
  ): Promise<void> {
    await this.installs.replaceOne(
      { _id: deviceId },
      { identifier, label, commandUuid, delivery, updatedAt: new Date() },
      { upsert: true },
    );
  }

  async answered(deviceId: string, commandUuid: string, state: 'installed' | 'failed', detail?: string) {
    const install = await this.installs.findById(deviceId, { commandUuid: 1 }).lean<Pick<InstallDoc, 'commandUuid'>>();
    if (install?.commandUuid !== commandUuid) return;
    await insertOnce(this.answers, {
      _id: commandUuid,
      deviceId,
      state,
      ...(detail ? { detail } : {}),
      at: new Date(),
    });
  }

  async removed(deviceId: string): Promise<void> {
    const install = await this.installs.findById(deviceId, { commandUuid: 1 }).lean<Pick<InstallDoc, 'commandUuid'>>();
    if (!install) return;
    await insertOnce(this.removals, { _id: install.commandUuid, deviceId, state: 'removed', at: new Date() });
  }

  async get(deviceId: string): Promise<WebClipInstall | undefined> {
    const install = await this.installs.findById(deviceId).lean<InstallDoc>();
    if (!install) return undefined;
    const [answer, removal] = await Promise.all([
      this.answers.findById(install.commandUuid).lean<OutcomeDoc>(),
      this.removals.findById(install.commandUuid).lean<OutcomeDoc>(),
    ]);
    const outcome = removal ?? answer;
    return {
      deviceId,
      identifier: install.identifier,
      label: install.label,
      commandUuid: install.commandUuid,
      delivery: install.delivery ?? 'command',
      state: outcome?.state ?? install.state ?? 'queued',
      detail: outcome ? outcome.detail : install.detail,
      updatedAt: outcome?.at ?? install.updatedAt,
    };
  }
}
