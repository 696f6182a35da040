import {
  adminNavigationPoint,
  definePlugin,
  deviceStatusItemsPoint,
  enrollmentPayloadsPoint,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { ComplianceService } from './src/compliance-service.js';
import { type ComplianceConfig, complianceConfigSchema } from './src/config.js';
import { defaultPolicy } from './src/policy.js';
import { mountComplianceRoutes } from './src/routes.js';
import { complianceModels, MongoDeviceRecords, PolicyStore } from './src/storage/compliance-records.js';
import { MongoDdmReports } from './src/storage/ddm-reports.js';

const REFRESH_QUEUE = 'compliance-refresh';

function buildService(ctx: PluginContext<ComplianceConfig>): ComplianceService {
  const models = complianceModels(ctx.mongo);
  return new ComplianceService(
    new MongoDeviceRecords(models),
    new MongoDdmReports(ctx.mongo),
    new PolicyStore(models, () => defaultPolicy(ctx.config)),
    ctx,
  );
}

/**
 * Example plugin written only against the SDK: a minimum OS version policy, evaluated on every
 * DeviceInformation answer or declarative status report (where the ddm plugin runs), shown as a status line on the portal's device page and in the admin devices
 * list, and (when configured) a veto on new enrollments of users whose devices are out of date.
 */
export default definePlugin({
  name: 'compliance',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description:
    'Minimum OS version policy: evaluates DeviceInformation results or DDM status and shows devices that need an update',
  dependsOn: ['mdm'],
  // The status and navigation points belong to no plugin: contributing needs no dependency.
  // ddm, when enabled, reports devices' OS versions by declarative status: no DeviceInformation needed for them.
  optionalDependsOn: ['admin-access', 'ddm'],
  config: complianceConfigSchema,
  register(api) {
    let built: ComplianceService | undefined;
    const service = (ctx: PluginContext<ComplianceConfig>) => {
      built ??= buildService(ctx);
      return built;
    };

    // After enrollment: queue a command (DeviceInformation) through the SDK's command service.
    api.on('device.enrolled', (event, ctx, meta) => service(ctx).onEnrolled(event, meta.eventId));
    // On every command result: keep the OS version the device reported.
    api.on('command.result', (event, ctx) => service(ctx).onCommandResult(event));
    // On every declarative status change of the OS version or model (devices that speak DDM).
    api.on('ddm.statusChanged', (event, ctx) => service(ctx).onDdmStatus(event));
    // On check-out and unenrollment: forget the device.
    api.on('device.checkedOut', (event, ctx) => service(ctx).forget(event.deviceId));
    api.on('device.unenrolled', (event, ctx) => service(ctx).forget(event.deviceId));

    api.contribute(deviceStatusItemsPoint, (ctx) => ({ statusFor: (devices) => service(ctx).statusFor(devices) }));
    api.contribute(enrollmentPayloadsPoint, (ctx) => service(ctx).enrollmentVeto(ctx.plugin.name));
    api.contribute(adminNavigationPoint, () => ({
      id: 'compliance',
      label: 'Compliance',
      // The admin center's page (policy form and the devices below the minimum); the API stays for automation.
      path: '/admin/compliance',
      scope: 'devices:read',
      order: 210,
    }));

    api.queue<{ kind: 'refresh' }>({
      name: REFRESH_QUEUE,
      processor: async (_job, ctx) => ({ requested: await service(ctx).refreshStale() }),
    });
    api.onStart(async (ctx) => {
      await new MongoDeviceRecords(complianceModels(ctx.mongo)).prepare();
      await new MongoDdmReports(ctx.mongo).prepare();
      if (ctx.gateway.role === 'serve' || ctx.config.refreshHours === 0) return;
      await ctx
        .queue<{ kind: 'refresh' }>(REFRESH_QUEUE)
        .queue.upsertJobScheduler(
          'compliance-refresh',
          { every: 3_600_000 },
          { name: 'refresh', data: { kind: 'refresh' } },
        );
    });

    api.routes({
      prefix: '/api/compliance',
      mount: (router, ctx) => mountComplianceRoutes(router, ctx, service(ctx)),
    });
  },
});
