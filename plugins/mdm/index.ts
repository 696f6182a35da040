import { readFileSync } from 'node:fs';
import {
  checkinMessageHandlersPoint,
  definePlugin,
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceIdentityIssuerRef,
  deviceRetirementRef,
  enrollmentIdentityPoint,
  enrollmentPayloadsPoint,
  enrollmentSessionsRef,
  mdmSetupRef,
  type PluginContext,
  pushTargetSourcesPoint,
} from 'enrollment-gateway/sdk';
import { type MdmConfig, mdmConfigSchema } from './src/config.js';
import { mountAdminRoutes } from './src/http/admin-routes.js';
import { BULK_BODY_LIMIT, mountBulkRoutes } from './src/http/bulk-routes.js';
import { mountDeviceRoutes } from './src/http/device-routes.js';
import { MAX_PKI_MESSAGE, mountScepRoutes } from './src/http/scep-routes.js';
import { mountDeviceSummaryRoute } from './src/http/summary-routes.js';
import { buildServices } from './src/services/build.js';
import { IdentityIssuer } from './src/services/identity-issuer.js';
import { CLAIM_RETENTION_MS, ensureIndexes } from './src/storage/models.js';

type MdmServices = ReturnType<typeof buildServices>;
/** The work role's hourly history pruning (the presence flush has its own queue). */
type MaintenanceJob = { kind: 'prune' };

export default definePlugin({
  name: 'mdm',
  version: '1.0.0',
  coreApi: '^2.13.0',
  description: 'Apple MDM protocol: PKI and SCEP, signed enrollment profiles, check-in and command server',
  optionalDependsOn: ['apns', 'admin-access', 'identity-entra'],
  config: mdmConfigSchema,
  emits: ['device.enrolled', 'device.tokenUpdated', 'device.checkedOut', 'command.result', 'enrollment.step'],
  register(api) {
    let built: MdmServices | undefined;
    const services = (ctx: PluginContext<MdmConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };
    api.extensionPoint(enrollmentPayloadsPoint);
    api.extensionPoint(enrollmentIdentityPoint);
    api.extensionPoint(checkinMessageHandlersPoint);
    api.provide(
      deviceIdentityIssuerRef,
      (ctx) => new IdentityIssuer(services(ctx), ctx.config.deviceCertificateValidityDays, ctx.logger, ctx.events),
    );
    api.provide(deviceCommandsRef, (ctx) => services(ctx).commands);
    api.provide(deviceDirectoryRef, (ctx) => services(ctx).directory);
    api.provide(deviceRetirementRef, (ctx) => services(ctx).retirement);
    api.contribute(pushTargetSourcesPoint, (ctx) => services(ctx).directory.asPushTargets());
    api.provide(enrollmentSessionsRef, (ctx) => services(ctx).enrollments);
    api.provide(mdmSetupRef, (ctx) => ({ missing: () => services(ctx).enrollments.setupProblems() }));

    api.onStart(async (ctx) => {
      const { models, pki, migration } = services(ctx);
      await ensureIndexes(models);
      await services(ctx).bulkStorage.ensureIndexes();
      const resealed = await pki.resealKeys();
      if (resealed > 0) ctx.logger.info({ resealed }, 're-sealed PKI keys under the current master key');
      await pki.get();
      await migration.run();
    });
    api.routes({
      prefix: '/mdm',
      bodyLimitBytes: api.config.maxDeviceBodyBytes,
      mount: (router, ctx) => mountDeviceRoutes(router, { ...services(ctx), rateLimits: ctx.rateLimits }),
    });
    api.routes({
      prefix: '/scep',
      bodyLimitBytes: MAX_PKI_MESSAGE,
      mount: (router, ctx) => mountScepRoutes(router, { ...services(ctx), rateLimits: ctx.rateLimits }),
    });
    api.routes({
      prefix: '/api/mdm',
      mount: (router, ctx) => {
        mountAdminRoutes(router, ctx, services(ctx));
        mountDeviceSummaryRoute(router, ctx, services(ctx));
      },
    });

    api.routes({
      prefix: '/api/mdm/bulk',
      bodyLimitBytes: BULK_BODY_LIMIT,
      mount: (router, ctx) => mountBulkRoutes(router, ctx, services(ctx)),
    });

    api.queue<MaintenanceJob>({
      name: 'mdm-maintenance',
      async processor(_job, ctx) {
        const cutoff = new Date(Date.now() - ctx.config.commandRetentionDays * 86_400_000);
        const deletedCount = await services(ctx).commandStore.prune(cutoff);
        const claims = await services(ctx).models.claims.deleteMany({
          at: { $lt: new Date(Date.now() - CLAIM_RETENTION_MS) },
        });
        return { pruned: deletedCount, claimsPruned: claims.deletedCount };
      },
    });
    // Its own queue: an hourly prune, which can take long on a large history, does not hold presence up.
    api.queue<Record<string, never>>({
      name: 'mdm-presence',
      processor: async (_job, ctx) => ({ written: await services(ctx).presence.flush() }),
    });
    api.onStart(async (ctx) => {
      if (ctx.gateway.role === 'serve') return;
      await ctx
        .queue<MaintenanceJob>('mdm-maintenance')
        .queue.upsertJobScheduler('mdm-prune', { every: 3_600_000 }, { name: 'prune', data: { kind: 'prune' } });
      await ctx.queue<Record<string, never>>('mdm-presence').queue.upsertJobScheduler(
        'mdm-presence',
        { every: ctx.config.presenceFlushSeconds * 1000 },
        {
          name: 'flush',
          opts: { removeOnComplete: true, removeOnFail: 100 },
        },
      );
    });

    api.command({
      name: 'mdm reseal',
      description: 're-seal every stored secret (PKI keys, per-device data keys) under the current master key',
      async run(_args, ctx, io) {
        const { pki, secrets } = services(ctx);
        const keys = await pki.resealKeys();
        const deviceKeys = await secrets.resealKeys();
        io.out(`re-sealed ${keys} PKI keys and ${deviceKeys} device data keys`);
        return 0;
      },
    });
    api.command({
      name: 'mdm import-ca',
      description: 'replace the gateway CA with an existing one: --cert ca.pem --key ca-key.pem',
      async run(args, ctx, io) {
        const cert = args[args.indexOf('--cert') + 1];
        const key = args[args.indexOf('--key') + 1];
        if (!args.includes('--cert') || !args.includes('--key') || !cert || !key) {
          io.err('usage: gateway mdm import-ca --cert <ca.pem> --key <ca-key.pem>');
          return 2;
        }
        await services(ctx).pki.importCa(readFileSync(cert, 'utf8'), readFileSync(key, 'utf8'));
        io.out(
          'CA imported; profiles are now signed by a new signing certificate under it. Restart every gateway and worker: they load the CA once at start.',
        );
        return 0;
      },
    });
  },
});
