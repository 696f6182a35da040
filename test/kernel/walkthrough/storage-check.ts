/**
 * The plugin docs/plugins.md builds step by step ("Build a plugin from scratch"). It is tested by
 * test/kernel/walkthrough.test.ts, so the walkthrough's code keeps working.
 */
import {
  type DeviceStatusItem,
  definePlugin,
  deviceCommandsRef,
  deviceStatusItemsPoint,
  NotFoundProblem,
  requireAdminScope,
  stableUuid,
} from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import { z } from 'zod';

interface StorageDoc {
  _id: string; // the device id
  freeGb: number;
  reportedAt: Date;
}

const storageSchema = new Schema<StorageDoc>(
  { _id: String, freeGb: Number, reportedAt: Date },
  { collection: 'storage_check_devices', versionKey: false },
);

/** Models live on the kernel's connection; define once, reuse after. */
const reports = (mongo: Connection): Model<StorageDoc> =>
  (mongo.models.StorageReport as Model<StorageDoc> | undefined) ??
  mongo.model<StorageDoc>('StorageReport', storageSchema);

export default definePlugin({
  name: 'storage-check',
  version: '1.0.0',
  coreApi: '^2.0.0',
  description: 'Warns device users whose iPhone is nearly full',
  dependsOn: ['mdm'], // we use its command service
  optionalDependsOn: ['admin-access'], // our admin route is guarded by it
  config: z.object({
    minimumFreeGb: z.number().positive().default(5).describe('Warn below this much free storage'),
  }),
  register(api) {
    // Step 3: after enrollment, ask the device how much storage is free.
    // A repeat delivery of the same event queues nothing twice: the CommandUUID comes from the event id.
    api.on('device.enrolled', async (event, ctx, meta) => {
      await ctx.resolve(deviceCommandsRef).enqueue([event.deviceId], {
        commandUuid: stableUuid(meta.eventId, 'storage check'),
        requestType: 'DeviceInformation',
        payload: { Queries: ['AvailableDeviceCapacity'] },
        origin: ctx.plugin.name,
      });
    });

    // Step 4: keep every answer.
    api.on('command.result', async (event, ctx) => {
      if (event.requestType !== 'DeviceInformation' || event.status !== 'Acknowledged') return;
      const answers = event.result.QueryResponses as { AvailableDeviceCapacity?: number } | undefined;
      if (typeof answers?.AvailableDeviceCapacity !== 'number') return;
      await reports(ctx.mongo).updateOne(
        { _id: event.deviceId },
        { $set: { freeGb: answers.AvailableDeviceCapacity, reportedAt: new Date() } },
        { upsert: true },
      );
      ctx.metrics.counter('storage_reports_total', 'Storage reports received').inc();
    });

    // Step 5: a line on the portal's device page and in the admin devices list.
    api.contribute(deviceStatusItemsPoint, (ctx) => ({
      async statusFor(devices) {
        const docs = await reports(ctx.mongo)
          .find({ _id: { $in: devices.map((d) => d.id) } })
          .lean<StorageDoc[]>();
        const items: Record<string, DeviceStatusItem[]> = {};
        for (const doc of docs) {
          if (doc.freeGb >= ctx.config.minimumFreeGb) continue;
          items[doc._id] = [
            {
              label: 'Storage',
              value: `${doc.freeGb.toFixed(1)} GB free`,
              tone: 'warning',
              action: `Free up space: keep at least ${ctx.config.minimumFreeGb} GB free`,
            },
          ];
        }
        return items;
      },
    }));

    // Step 6: an admin route, guarded by a scope.
    api.routes({
      prefix: '/api/storage-check',
      mount(router, ctx) {
        router.get('/devices/:id', requireAdminScope(ctx, 'devices:read'), async (koa) => {
          const doc = await reports(ctx.mongo).findById(koa.params.id).lean<StorageDoc>();
          if (!doc) throw new NotFoundProblem('no storage report for this device');
          koa.body = { deviceId: doc._id, freeGb: doc.freeGb, reportedAt: doc.reportedAt };
        });
      },
    });
  },
});
