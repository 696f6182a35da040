import type { DeviceDirectory, DeviceRecord, PushTarget, PushTargetStore } from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import { type PushCredentialDoc, pushInvalidId } from '../storage/device-records.js';
import { type DeviceViews, toDeviceRecord } from '../storage/device-views.js';
import { insertOnce, MANAGED_DEVICE_STATES, type MdmModels } from '../storage/models.js';
import type { CommandService } from './command-service.js';
import { type DeviceSecrets, hashPushToken } from './device-secrets.js';

export { toDeviceRecord } from '../storage/device-views.js';

export class MongoDeviceDirectory implements DeviceDirectory {
  constructor(
    private readonly models: MdmModels,
    private readonly views: DeviceViews,
    private readonly secrets: DeviceSecrets,
    private readonly commands: Pick<CommandService, 'devicesWithPending'>,
  ) {}

  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    const view = await this.views.byId(deviceId);
    return view ? toDeviceRecord(view) : undefined;
  }

  async getByUdid(udid: string): Promise<DeviceRecord | undefined> {
    const view = await this.views.byUdid(udid);
    return view ? toDeviceRecord(view) : undefined;
  }

  async listForUser(userId: string): Promise<DeviceRecord[]> {
    return (await this.views.find({ userId })).map(toDeviceRecord);
  }

  async pushTargets(deviceIds: readonly string[]): Promise<PushTarget[]> {
    const views = (await this.views.byIds(deviceIds)).filter(
      (view) => MANAGED_DEVICE_STATES.includes(view.state) && view.push?.topic && !view.pushInvalid,
    );
    const credentials = views.map((view) => view.push as PushCredentialDoc);
    const secrets = await this.secrets.openPushSecrets(credentials);
    return credentials.flatMap((credential) => {
      const opened = secrets.get(credential.deviceId);
      return opened ? [{ deviceId: credential.deviceId, ...opened, topic: credential.topic! }] : [];
    });
  }

  /** APNs' verdict on a token: its own insert-only record, so it never races a TokenUpdate. */
  async markInvalid(deviceId: string, token: string, reason: string): Promise<void> {
    if (!Types.ObjectId.isValid(deviceId)) return;
    const credentials = await this.models.pushCredentials
      .find({ deviceId, pushTokenHash: hashPushToken(token) }, { _id: 1, version: 1 })
      .lean<Pick<PushCredentialDoc, '_id' | 'version'>[]>();
    for (const credential of credentials)
      await insertOnce(this.models.pushInvalid, { _id: pushInvalidId(credential), deviceId, reason, at: new Date() });
  }

  async needingWake(since: Date, limit: number): Promise<string[]> {
    const withPending = await this.commands.devicesWithPending();
    const views = (await this.views.byIds(withPending)).filter(
      (view) =>
        ['enrolled', 'retiring'].includes(view.state) &&
        !view.pushInvalid &&
        (!view.presence || view.presence.lastSeenAt < since),
    );
    // Longest-silent first, so one sweep's limit does not keep picking the same devices.
    views.sort((a, b) => (a.presence?.lastSeenAt.getTime() ?? 0) - (b.presence?.lastSeenAt.getTime() ?? 0));
    return views.slice(0, limit).map((view) => String(view.binding._id));
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
