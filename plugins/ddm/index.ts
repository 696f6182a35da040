import {
  adminNavigationPoint,
  checkinMessageHandlersPoint,
  declarationsPoint,
  declarativeManagementRef,
  definePlugin,
  deviceStatusItemsPoint,
  legacyProfilesPoint,
  type PluginContext,
  VersionedSettingsStore,
} from 'enrollment-gateway/sdk';
import { type DdmConfig, ddmConfigSchema } from './src/config.js';
import { mountDdmRoutes } from './src/http/admin-routes.js';
import { mountProfileRoutes } from './src/http/profile-routes.js';
import { DdmService } from './src/services/ddm-service.js';
import { DeclarationSets } from './src/services/declaration-sets.js';
import { LegacyProfiles, PROFILE_PATH } from './src/services/legacy-profiles.js';
import { SetCache } from './src/services/set-cache.js';
import { updateStatusItems } from './src/services/status-items.js';
import { type DdmSettings, ddmSettingsSchema, defaultSettings } from './src/settings.js';
import { MongoStatusItems, MongoSyncStates } from './src/storage/ddm-records.js';
import { MongoProfileUrlKeys } from './src/storage/profile-keys.js';

const RESYNC_QUEUE = 'ddm-resync';
interface ResyncJob {
  after?: string;
}

function build(ctx: PluginContext<DdmConfig>): DdmService {
  const settings = new VersionedSettingsStore<DdmSettings>({
    connection: ctx.mongo,
    collection: 'ddm_settings',
    schema: ddmSettingsSchema,
    defaults: defaultSettings,
    staleDetail: 'the DDM settings changed since you read them; reload and try again',
  });
  const keys = new MongoProfileUrlKeys(ctx.mongo, ctx.keyVault);
  const legacy: LegacyProfiles = new LegacyProfiles(ctx, keys, (id) => sets.target(id));
  const sets: DeclarationSets = new DeclarationSets(ctx, settings, legacy);
  const syncStates = new MongoSyncStates(ctx.mongo);
  return new DdmService(ctx, sets, syncStates, new MongoStatusItems(ctx.mongo), new SetCache(sets, ctx), async () => {
    await ctx.queue<ResyncJob>(RESYNC_QUEUE).add('resync', {});
  });
}

/**
 * Declarative device management (docs/ddm.md): answers the DeclarativeManagement check-ins mdm hands over,
 * computes each device's declarations from the admin's settings and other plugins' contributions, keeps the
 * latest status the devices report, and tells devices to sync when their set changed.
 */
export default definePlugin({
  name: 'ddm',
  version: '1.0.0',
  // 2.12: legacyProfilesPoint, takesDeclarations, requestSyncAll.
  coreApi: '^2.12.0',
  description: 'Declarative device management: declarations, status reports and OS update enforcement',
  dependsOn: ['mdm'],
  optionalDependsOn: ['admin-access', 'identity-entra', 'enrollment-profiles'],
  config: ddmConfigSchema,
  emits: ['ddm.statusChanged'],
  register(api) {
    let built: DdmService | undefined;
    const service = (ctx: PluginContext<DdmConfig>) => {
      built ??= build(ctx);
      return built;
    };
    api.extensionPoint(declarationsPoint);
    api.extensionPoint(legacyProfilesPoint);
    api.provide(declarativeManagementRef, (ctx) => service(ctx));
    api.contribute(checkinMessageHandlersPoint, (ctx) => ({
      messageTypes: ['DeclarativeManagement'],
      handle: (message) => service(ctx).handleCheckin(message),
    }));
    api.contribute(deviceStatusItemsPoint, (ctx) => ({
      statusFor: (devices) => updateStatusItems(service(ctx), devices),
    }));

    api.contribute(adminNavigationPoint, () => ({
      id: 'ddm',
      label: 'Declarative management',
      // The admin center's page (OS update policies, built-in configurations); devices show their declarations.
      path: '/admin/ddm',
      scope: 'policies:read',
      order: 215,
    }));

    api.on('device.enrolled', async (event, ctx) => {
      if (ctx.config.syncOnEnrollment) await service(ctx).requestSync([event.deviceId]);
    });
    // A device's set follows its user's groups: a sign-in that brought other groups re-syncs the user's devices.
    api.on('user.groupsChanged', async (event, ctx) => {
      const queued = await service(ctx).resyncUser(event.userId);
      if (queued > 0) ctx.logger.info({ userId: event.userId, queued }, "user's groups changed; devices re-sync");
    });
    // iOS removes every declaration with the management profile; the server forgets the device's DDM state.
    api.on('device.checkedOut', (event, ctx) => service(ctx).forget(event.deviceId));
    api.on('device.unenrolled', (event, ctx) => service(ctx).forget(event.deviceId));

    api.queue<ResyncJob>({
      name: RESYNC_QUEUE,
      async processor(job, ctx) {
        const { next, queued } = await service(ctx).resyncPage(job.data.after);
        if (next) await ctx.queue<ResyncJob>(RESYNC_QUEUE).add('resync', { after: next });
        return { queued };
      },
    });
    api.onStart(async (ctx) => {
      await new MongoStatusItems(ctx.mongo).prepare();
      // The legacy profile URL key is created, or sealed again under the current master key, before the operator
      // can retire the previous one; a key that cannot be opened is logged here and answered 503 on use.
      await new MongoProfileUrlKeys(ctx.mongo, ctx.keyVault).current().catch((error: unknown) => {
        ctx.logger.error({ err: error }, 'the legacy profile URL key cannot be read');
      });
    });

    api.routes({
      prefix: '/api/ddm',
      mount: (router, ctx) => mountDdmRoutes(router, ctx, service(ctx), () => service(ctx).requestSyncAll()),
    });
    // Where devices download the legacy profiles their declarations name (ProfileURL).
    api.routes({
      prefix: PROFILE_PATH,
      mount: (router, ctx) => mountProfileRoutes(router, ctx, service(ctx).sets),
    });
  },
});
