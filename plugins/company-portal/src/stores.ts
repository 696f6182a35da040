import type { Redis } from 'ioredis';
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
export class DeviceNames {
  private readonly model: Model<DeviceNameDoc>;

  constructor(connection: Connection) {
    this.model =
      (connection.models.PortalDeviceName as Model<DeviceNameDoc> | undefined) ??
      connection.model<DeviceNameDoc>('PortalDeviceName', deviceNameSchema);
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

/** The answer to a "Check status" request, as the device page shows it. */
export interface StatusCheck {
  commandUuid: string;
  requestedAt: number;
  state: 'waiting' | 'answered' | 'not-now' | 'failed';
  answeredAt?: number;
  /** Picked from QueryResponses: OSVersion, DeviceName, BatteryLevel, capacities … */
  answer?: Record<string, string | number | boolean>;
}

const CHECK_TTL_SECONDS = 7 * 86_400;
/** A check that got no answer for this long no longer holds back the next one. */
export const CHECK_WAIT_MS = 60_000;

/**
 * Short-lived portal state in Redis, shared by every replica and the workers: the one-time download URL of each
 * enrollment session (the mdm plugin hands it out only once, at creation), the user's latest session, and the
 * last "Check status" request per device.
 */
export class PortalState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async rememberDownload(userId: string, sessionId: string, profileUrl: string, expiresAt: Date): Promise<void> {
    const ttl = Math.max(1_000, expiresAt.getTime() - Date.now());
    await this.redis
      .multi()
      .set(`${this.prefix}download:${sessionId}`, profileUrl, 'PX', ttl)
      .set(`${this.prefix}latest:${userId}`, sessionId, 'PX', ttl)
      .exec();
  }

  downloadUrl(sessionId: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}download:${sessionId}`);
  }

  latestSession(userId: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}latest:${userId}`);
  }

  /**
   * Claims the right to ask the device: refused while the last check waits for its answer and is younger than
   * CHECK_WAIT_MS. A claim (SET NX), so two presses at once queue one command.
   */
  async claimCheck(deviceId: string): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}check-claim:${deviceId}`, '1', 'PX', CHECK_WAIT_MS, 'NX')) === 'OK';
  }

  async releaseCheck(deviceId: string): Promise<void> {
    await this.redis.del(`${this.prefix}check-claim:${deviceId}`);
  }

  async startCheck(deviceId: string, commandUuid: string): Promise<void> {
    const check: StatusCheck = { commandUuid, requestedAt: Date.now(), state: 'waiting' };
    await this.redis.set(`${this.prefix}check:${deviceId}`, JSON.stringify(check), 'EX', CHECK_TTL_SECONDS);
  }

  async check(deviceId: string): Promise<StatusCheck | undefined> {
    const raw = await this.redis.get(`${this.prefix}check:${deviceId}`);
    return raw ? (JSON.parse(raw) as StatusCheck) : undefined;
  }

  /** Records the device's answer when it belongs to the last request; true when it did. */
  async answerCheck(
    deviceId: string,
    commandUuid: string,
    state: StatusCheck['state'],
    answer?: StatusCheck['answer'],
  ): Promise<boolean> {
    const current = await this.check(deviceId);
    if (current?.commandUuid !== commandUuid) return false;
    const next: StatusCheck = { ...current, state, answeredAt: Date.now(), answer };
    await this.redis
      .multi()
      .set(`${this.prefix}check:${deviceId}`, JSON.stringify(next), 'EX', CHECK_TTL_SECONDS)
      .del(`${this.prefix}check-claim:${deviceId}`)
      .exec();
    return true;
  }
}
