import { readFileSync } from 'node:fs';
import {
  companyPortalRef,
  declarativeManagementRef,
  definePlugin,
  legacyProfilesPoint,
  managedItemsPoint,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { defaultWebClipIdentifier, type WebClipConfig, webClipConfigSchema } from './src/config.js';
import { deliverOnEnrollment, legacyWebClip, onDeclarationStatus } from './src/delivery.js';
import { buildWebClipProfile, checkIcon, type WebClipProfile } from './src/profile.js';
import { mountWebClipRoutes } from './src/routes.js';
import { defaultWebClipSettings } from './src/settings.js';
import { MongoWebClipInstalls } from './src/storage/installs.js';
import { webClipSettingsStore } from './src/storage/settings-store.js';

function buildServices(ctx: PluginContext<WebClipConfig>) {
  const { config } = ctx;
  const portal = ctx.resolve(companyPortalRef);
  const icon = config.iconFile
    ? checkIcon(readFileSync(config.iconFile), config.iconFile)
    : checkIcon(portal.homeScreenIcon(), 'the portal icon');
  const identifier = config.profileIdentifier ?? defaultWebClipIdentifier(ctx.gateway.publicUrl);
  const settings = webClipSettingsStore(ctx.mongo, () => defaultWebClipSettings(config));
  let last: { key: string; profile: WebClipProfile } | undefined;

  /**
   * The profile for the settings saved now. They are read from MongoDB on every enrollment, so each replica
   * follows an admin's save at once; only the plist built from them is kept, and rebuilt when they differ.
   */
  async function currentProfile(): Promise<{ profile: WebClipProfile; label: string }> {
    const { value: current } = await settings.current();
    const key = JSON.stringify(current);
    if (last?.key !== key) {
      last = {
        key,
        profile: buildWebClipProfile({
          identifier,
          label: current.label,
          url: current.url ?? portal.url,
          icon,
          isRemovable: current.isRemovable,
          fullScreen: current.fullScreen,
          organization: config.organizationName ?? ctx.gateway.organizationName,
        }),
      };
    }
    return { profile: last.profile, label: current.label };
  }

  return { currentProfile, settings, portalUrl: () => portal.url, installs: new MongoWebClipInstalls(ctx.mongo) };
}

/**
 * Puts a Company Portal icon on the Home Screen of every enrolled device: a com.apple.webClip.managed profile
 * sent with InstallProfile on device.enrolled and listed for unenrollment to remove, or, to a device that takes
 * declarations, served by the ddm plugin as a legacy declaration (src/delivery.ts).
 */
export default definePlugin({
  name: 'web-clip',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Company Portal web clip on the Home Screen of enrolled devices',
  dependsOn: ['mdm', 'company-portal'],
  // admin-access, when enabled, guards the settings API; unenrollment asks what this plugin installed.
  // ddm, when enabled, delivers the profile by declaration to devices that take declarations.
  optionalDependsOn: ['admin-access', 'unenrollment', 'ddm'],
  config: webClipConfigSchema,
  register(api) {
    let built: ReturnType<typeof buildServices> | undefined;
    const services = (ctx: PluginContext<WebClipConfig>) => {
      built ??= buildServices(ctx);
      return built;
    };

    api.on('device.enrolled', (event, ctx, meta) =>
      deliverOnEnrollment(ctx, services(ctx), event.deviceId, meta.eventId),
    );
    // Devices that take declarations get the profile by a legacy declaration the ddm plugin serves.
    api.contribute(legacyProfilesPoint, (ctx) => legacyWebClip(() => services(ctx)));
    api.on('ddm.statusChanged', (event, ctx) => onDeclarationStatus(services(ctx), event));

    api.on('command.result', async (event, ctx) => {
      if (event.requestType !== 'InstallProfile' || event.status === 'NotNow') return;
      const failed = event.status !== 'Acknowledged';
      await services(ctx).installs.answered(
        event.deviceId,
        event.commandUuid,
        failed ? 'failed' : 'installed',
        failed ? `device answered ${event.status}` : undefined,
      );
    });

    api.on('device.unenrolled', async (event, ctx) => {
      await services(ctx).installs.removed(event.deviceId);
    });

    api.contribute(managedItemsPoint, (ctx) => ({
      async installedOn(deviceId) {
        const install = await services(ctx).installs.get(deviceId);
        // A queued profile may be installed with its answer still in flight: removing it then is harmless.
        if (!install || (install.state !== 'queued' && install.state !== 'installed')) return [];
        // A profile a declaration installed leaves with the declarations (iOS removes them with management).
        if (install.delivery === 'declaration') return [];
        return [{ kind: 'profile' as const, identifier: install.identifier, displayName: install.label }];
      },
    }));

    api.routes({
      prefix: '/api/web-clip',
      mount: (router, ctx) =>
        mountWebClipRoutes(router, ctx, {
          ...services(ctx),
          settingsSaved: async () => ctx.tryResolve(declarativeManagementRef)?.requestSyncAll?.(),
        }),
    });

    api.onStart(async (ctx) => {
      // Reads the icon now, so a bad icon file stops start-up with a clear message.
      await services(ctx).installs.ensureIndexes();
    });
  },
});
