import { modelOn } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';

interface DeviceNameDoc {
  _id: string;
  userId: string;
  name: string;
  updatedAt: Date;
}

const deviceNameSchema = new Schema<DeviceNameDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    name: { type: String, required: true },
  },
  { collection: 'portal_device_names', versionKey: false, timestamps: { createdAt: false, updatedAt: true } },
);
deviceNameSchema.index({ userId: 1 });

/**
 * Names users give their devices in the portal. They are the portal's own labels: iOS only lets a supervised
 * device be renamed by MDM, and these are personal devices.
 */
export interface DeviceNameRecords {
  forUser(userId: string): Promise<Map<string, string>>;
  get(deviceId: string, userId: string): Promise<string | undefined>;
  set(deviceId: string, userId: string, name: string): Promise<void>;
}

/** One writer: the user renaming in the portal, who replaces the whole record (name and owner together). */
export class DeviceNames implements DeviceNameRecords {
  private readonly model: Model<DeviceNameDoc>;

  constructor(connection: Connection) {
    this.model = modelOn<DeviceNameDoc>(connection, 'PortalDeviceName', deviceNameSchema);
  }

  async ensureIndexes(): Promise<void> {
    await this.model.init();
  }

  async forUser(userId: string): Promise<Map<string, string>> {
    const docs = await this.model.find({ userId }).lean<DeviceNameDoc[]>();
    return new Map(docs.map((d) => [d._id, d.name]));
  }

  /** The name `userId` gave the device: a device enrolled again by someone else does not show it to them. */
  async get(deviceId: string, userId: string): Promise<string | undefined> {
    return (await this.model.findOne({ _id: deviceId, userId }).lean<DeviceNameDoc>())?.name;
  }

  async set(deviceId: string, userId: string, name: string): Promise<void> {
    await this.model.updateOne({ _id: deviceId }, { $set: { userId, name } }, { upsert: true });
  }
}
