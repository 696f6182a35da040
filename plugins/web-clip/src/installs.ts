import { type Connection, type Model, Schema } from 'mongoose';

export type InstallState = 'queued' | 'installed' | 'failed' | 'removed';

interface InstallDoc {
  _id: string;
  identifier: string;
  label: string;
  commandUuid: string;
  state: InstallState;
  detail?: string;
  updatedAt: Date;
}

const installSchema = new Schema<InstallDoc>(
  {
    _id: { type: String, required: true },
    identifier: { type: String, required: true },
    label: { type: String, required: true },
    commandUuid: { type: String, required: true },
    state: { type: String, required: true },
    detail: String,
  },
  { collection: 'web_clip_installs', versionKey: false, timestamps: { createdAt: false, updatedAt: true } },
);
installSchema.index({ commandUuid: 1 });

/** Per device: the web clip profile sent, and whether the device installed it. */
export class WebClipInstalls {
  private readonly model: Model<InstallDoc>;

  constructor(connection: Connection) {
    this.model =
      (connection.models.WebClipInstall as Model<InstallDoc> | undefined) ??
      connection.model<InstallDoc>('WebClipInstall', installSchema);
  }

  async ensureIndexes(): Promise<void> {
    await this.model.init();
  }

  async queued(deviceId: string, identifier: string, label: string, commandUuid: string): Promise<void> {
    await this.model.updateOne(
      { _id: deviceId },
      { $set: { identifier, label, commandUuid, state: 'queued' }, $unset: { detail: '' } },
      { upsert: true },
    );
  }

  async answered(deviceId: string, commandUuid: string, state: InstallState, detail?: string): Promise<void> {
    await this.model.updateOne({ _id: deviceId, commandUuid }, { $set: { state, ...(detail ? { detail } : {}) } });
  }

  async removed(deviceId: string): Promise<void> {
    await this.model.updateOne({ _id: deviceId }, { $set: { state: 'removed' } });
  }

  async get(deviceId: string): Promise<InstallDoc | undefined> {
    return (await this.model.findById(deviceId).lean<InstallDoc>()) ?? undefined;
  }
}
