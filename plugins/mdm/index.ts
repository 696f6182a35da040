import { readFileSync } from 'node:fs';
import {
  definePlugin,
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceRetirementRef,
  enrollmentPayloadsPoint,
  enrollmentSessionsRef,
  mdmSetupRef,
  type PluginContext,
  pushServiceRef,
  pushTargetSourcesPoint,
  pushTopicRef,
} from 'enrollment-gateway/sdk';
import { defaultProfileIdentifier, type MdmConfig, mdmConfigSchema } from './src/config.js';
import { mountAdminRoutes } from './src/http/admin-routes.js';
import { mountDeviceRoutes } from './src/http/device-routes.js';
import { mountScepRoutes } from './src/http/scep-routes.js';
import { CertificateService } from './src/services/certificate-service.js';
import { CheckinService } from './src/services/checkin-service.js';
import { CommandService } from './src/services/command-service.js';
import { DeviceBindingCache } from './src/services/device-binding-cache.js';
import { DeviceIdentityVerifier } from './src/services/device-identity.js';
import { DeviceSecrets } from './src/services/device-secrets.js';
import { MongoDeviceDirectory } from './src/services/directory.js';
import { EnrollmentService } from './src/services/enrollment-service.js';
import { PkiService } from './src/services/pki-service.js';
import { RetirementService } from './src/services/retirement-service.js';
import { ScepService } from './src/services/scep-service.js';
import { CLAIM_RETENTION_MS, ensureIndexes, mdmModels } from './src/storage/models.js';

/** Everything the plugin builds once per gateway, wired by hand: the graph is small and explicit. */
function buildServices(ctx: PluginContext<MdmConfig>) {
  const models = mdmModels(ctx.mongo);
  const pki = new PkiService(models, ctx.keyVault, ctx.logger, ctx.config.organizationName);
  const enrollments = new EnrollmentService(
    models,
    pki,
    {
      publicUrl: ctx.gateway.publicUrl,
      organization: ctx.config.organizationName,
      profileIdentifier: ctx.config.profileIdentifier ?? defaultProfileIdentifier(ctx.gateway.publicUrl),
      sessionTtlSeconds: ctx.config.enrollmentSessionTtlSeconds,
    },
    ctx.tryResolve(pushTopicRef),
    () => ctx.extensions(enrollmentPayloadsPoint),
    ctx.logger,
  );
  const identity = new DeviceIdentityVerifier(
    models,
    async () => (await pki.get()).ca.certPem,
    new DeviceBindingCache(ctx.redis, ctx.redisKeyPrefix, ctx.logger),
  );
  const commands = new CommandService(models, ctx.events, () => ctx.tryResolve(pushServiceRef), ctx.logger);
  const secrets = new DeviceSecrets(models, ctx.keyVault, ctx.logger);
  const checkins = new CheckinService(models, identity, commands, ctx.events, secrets, ctx.logger);
  const scep = new ScepService(models, pki, enrollments, ctx.config.deviceCertificateValidityDays, ctx.logger);
  const directory = new MongoDeviceDirectory(models, secrets);
  const certificates = new CertificateService(models, ctx.logger);
  const retirement = new RetirementService(models, certificates, secrets, enrollments, ctx.logger);
  return { models, pki, enrollments, identity, commands, checkins, scep, directory, certificates, secrets, retirement };
}

type MdmServices = ReturnType<typeof buildServices>;

export default definePlugin({
  name: 'mdm',
  version: '1.0.0',
  coreApi: '^1.0.0',
  description: 'Apple MDM protocol: PKI and SCEP, signed enrollment profiles, check-in and command server',
  optionalDependsOn: ['apns', 'admin-access'],
  config: mdmConfigSchema,
  emits: ['device.enrolled', 'device.tokenUpdated', 'device.checkedOut', 'command.result'],
  register(api) {
    let built: MdmServices | undefined;
    const services = (ctx: PluginContext<MdmConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };
    api.extensionPoint(enrollmentPayloadsPoint);
    api.provide(deviceCommandsRef, (ctx) => services(ctx).commands);
    api.provide(deviceDirectoryRef, (ctx) => services(ctx).directory);
    api.provide(deviceRetirementRef, (ctx) => services(ctx).retirement);
    api.contribute(pushTargetSourcesPoint, (ctx) => services(ctx).directory.asPushTargets());
    api.provide(enrollmentSessionsRef, (ctx) => services(ctx).enrollments);
    api.provide(mdmSetupRef, (ctx) => ({ missing: () => services(ctx).enrollments.setupProblems() }));

    api.onStart(async (ctx) => {
      const { models, pki, secrets } = services(ctx);
      await ensureIndexes(models);
      const resealed = await pki.resealKeys();
      if (resealed > 0) ctx.logger.info({ resealed }, 're-sealed PKI keys under the current master key');
      await pki.get();
      const migrated = await secrets.migrateLegacy();
      if (migrated > 0) ctx.logger.info({ migrated }, 'encrypted legacy device secrets under per-device keys');
    });
    api.routes({
      prefix: '/mdm',
      mount: (router, ctx) =>
        mountDeviceRoutes(router as never, { ...services(ctx), maxBodyBytes: ctx.config.maxDeviceBodyBytes }),
    });
    api.routes({ prefix: '/scep', mount: (router, ctx) => mountScepRoutes(router as never, services(ctx)) });
    api.routes({
      prefix: '/api/mdm',
      mount: (router, ctx) => mountAdminRoutes(router as never, ctx as PluginContext<unknown>, services(ctx)),
    });

    api.queue<{ kind: 'prune' }>({
      name: 'mdm-maintenance',
      async processor(_job, ctx) {
        const cutoff = new Date(Date.now() - ctx.config.commandRetentionDays * 86_400_000);
        const { deletedCount } = await services(ctx).models.commands.deleteMany({
          state: { $in: ['acknowledged', 'error', 'format-error', 'cancelled'] },
          respondedAt: { $lt: cutoff },
        });
        await services(ctx).models.commandResults.deleteMany({ at: { $lt: cutoff } });
        const claims = await services(ctx).models.claims.deleteMany({
          at: { $lt: new Date(Date.now() - CLAIM_RETENTION_MS) },
        });
        return { pruned: deletedCount, claimsPruned: claims.deletedCount };
      },
    });
    api.onStart(async (ctx) => {
      if (ctx.gateway.role === 'serve') return;
      await ctx
        .queue<{ kind: 'prune' }>('mdm-maintenance')
        .queue.upsertJobScheduler('mdm-prune', { every: 3_600_000 }, { name: 'prune', data: { kind: 'prune' } });
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
