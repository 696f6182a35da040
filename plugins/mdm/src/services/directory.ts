import type { DeviceDirectory, DeviceRecord, PushTarget, PushTargetStore } from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import { type DeviceDoc, MANAGED_DEVICE_STATES, type MdmModels, PENDING_COMMAND_STATES } from '../storage/models.js';
import { type DeviceSecrets, hashPushToken } from './device-secrets.js';

export function toDeviceRecord(doc: DeviceDoc): DeviceRecord {
  return {
    id: String(doc._id),
    udid: doc.udid,
    userId: doc.userId,
    enrollmentId: doc.enrollmentId,
    state: doc.state,
    model: doc.model,
    productName: doc.productName,
    osVersion: doc.osVersion,
    serialNumber: doc.serialNumber,
    deviceName: doc.deviceName,
    enrolledAt: doc.enrolledAt,
    lastSeenAt: doc.lastSeenAt,
    createdAt: doc.createdAt,
    pushable: Boolean(doc.pushTokenEncrypted && doc.pushMagicEncrypted && !doc.pushTokenInvalid?.reason),
    managedApps: doc.managedApps ?? [],
    installedProfiles: doc.installedProfiles ?? [],
  };
}

// The encrypted push token and PushMagic are read (pushable needs them) but toDeviceRecord never copies them out.
const publicProjection = { unlockTokenEncrypted: 0, identityFingerprints: 0 } as const;

export class MongoDeviceDirectory implements DeviceDirectory {
  constructor(
    private readonly models: MdmModels,
    private readonly secrets: DeviceSecrets,
  ) {}

  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    if (!Types.ObjectId.isValid(deviceId)) return undefined;
    const doc = await this.models.devices.findById(deviceId, publicProjection).lean();
    return doc ? toDeviceRecord(doc as unknown as DeviceDoc) : undefined;
  }

  async getByUdid(udid: string): Promise<DeviceRecord | undefined> {
    const doc = await this.models.devices.findOne({ udid }, publicProjection).lean();
    return doc ? toDeviceRecord(doc as unknown as DeviceDoc) : undefined;
  }

  async listForUser(userId: string): Promise<DeviceRecord[]> {
    const docs = await this.models.devices.find({ userId }, publicProjection).sort({ _id: 1 }).lean();
    return docs.map((doc) => toDeviceRecord(doc as unknown as DeviceDoc));
  }

  async pushTargets(deviceIds: readonly string[]): Promise<PushTarget[]> {
    const ids = deviceIds.filter((id) => Types.ObjectId.isValid(id));
    const docs = await this.models.devices
      .find(
        {
          _id: { $in: ids },
          state: { $in: MANAGED_DEVICE_STATES },
          pushTokenEncrypted: { $exists: true },
          'pushTokenInvalid.reason': { $exists: false },
        },
        { pushTokenEncrypted: 1, pushMagicEncrypted: 1, topic: 1 },
      )
      .lean<DeviceDoc[]>();
    const withTopic = docs.filter((doc) => doc.topic);
    const secrets = await this.secrets.openPushSecrets(withTopic);
    return withTopic.flatMap((doc) => {
      const opened = secrets.get(String(doc._id));
      return opened ? [{ deviceId: String(doc._id), ...opened, topic: doc.topic! }] : [];
    });
  }

  async markInvalid(deviceId: string, token: string, reason: string): Promise<void> {
    if (!Types.ObjectId.isValid(deviceId)) return;
    await this.models.devices.updateOne(
      { _id: new Types.ObjectId(deviceId), pushTokenHash: hashPushToken(token) },
      { $set: { pushTokenInvalid: { reason, at: new Date() } } },
    );
  }

  async needingWake(since: Date, limit: number): Promise<string[]> {
    const withPending = (await this.models.commands.distinct('deviceId', {
      state: { $in: PENDING_COMMAND_STATES },
    })) as string[];
    const docs = await this.models.devices
      .find(
        {
          _id: { $in: withPending },
          lastSeenAt: { $lt: since },
          state: { $in: ['enrolled', 'retiring'] },
          'pushTokenInvalid.reason': { $exists: false },
        },
        { _id: 1 },
      )
      // Longest-silent first, so one sweep's limit does not keep picking the same devices.
      .sort({ lastSeenAt: 1 })
      .limit(limit)
      .lean();
    return docs.map((doc) => String(doc._id));
  }

  /** Adapter: the PushTargetStore contract names its lookup `get`, as the directory does. */
  asPushTargets(): PushTargetStore {
    return {
      get: (ids) => this.pushTargets(ids),
      markInvalid: (...a) => this.markInvalid(...a),
      needingWake: (...a) => this.needingWake(...a),
    };
  }
}
