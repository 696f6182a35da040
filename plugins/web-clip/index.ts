import { readFileSync } from 'node:fs';
import {
  companyPortalRef,
  declarativeManagementRef,
  definePlugin,
  deviceCommandsRef,
  legacyProfilesPoint,
  managedItemsPoint,
  type PluginContext,
  stableUuid,
} from 'enrollment-gateway/sdk';
import { defaultWebClipIdentifier, type WebClipConfig, webClipConfigSchema } from './src/config.js';
import { declarationInstalled } from './src/declaration-status.js';
import { buildWebClipProfile, checkIcon, type WebClipProfile } from './src/profile.js';
import { mountWebClipRoutes } from './src/routes.js';
import { defaultWebClipSettings } from './src/settings.js';
import { MongoWebClipInstalls } from './src/storage/installs.js';
import { webClipSettingsStore } from './src/storage/settings-store.js';

const ORIGIN = 'web-clip';
/** The legacy declaration that carries the profile to devices that take declarations. */
export const WEB_CLIP_DECLARATION = 'web-clip.profile';

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
 * sent with InstallProfile on device.enrolled, and listed for unenrollment to remove.
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

    api.on('device.enrolled', async (event, ctx, meta) => {
      const { currentProfile, installs } = services(ctx);
      const { profile, label } = await currentProfile();
      // The same ids on every delivery of this event: a retry queues nothing twice and keeps the first decision.
      const commandUuid = stableUuid(meta.eventId, 'web-clip InstallProfile');
      const declarationId = stableUuid(meta.eventId, 'web-clip declaration');
      const existing = await installs.get(event.deviceId);
      const decided = existing?.commandUuid === commandUuid || existing?.commandUuid === declarationId;
      const byDeclaration = decided
        ? existing.delivery === 'declaration'
        : (await ctx.tryResolve(declarativeManagementRef)?.takesDeclarations?.(event.deviceId)) === true;
      if (byDeclaration) {
        // The ddm plugin serves it (legacyProfilesPoint below) with the device's next sync.
        if (!decided) await installs.queued(event.deviceId, profile.identifier, label, declarationId, 'declaration');
        return;
      }
      const [queued] = await ctx.resolve(deviceCommandsRef).enqueue([event.deviceId], {
        commandUuid,
        requestType: 'InstallProfile',
        payload: { Payload: profile.bytes },
        origin: ORIGIN,
      });
      // A retry after the device already answered must not set the install back to "queued".
      const recorded = queued && !queued.created && existing?.commandUuid === queued.commandUuid;
      if (queued && !recorded) await installs.queued(event.deviceId, profile.identifier, label, queued.commandUuid);
    });

    // Devices that take declarations get the current profile by a legacy declaration; a settings change reaches
    // them with their next sync (the save asks the ddm plugin to re-sync).
    api.contribute(legacyProfilesPoint, (ctx) => ({
      identifier: WEB_CLIP_DECLARATION,
      async profileFor(target) {
        const install = await services(ctx).installs.get(target.deviceId);
        if (install?.delivery !== 'declaration' || install.state === 'removed') return undefined;
        return (await services(ctx).currentProfile()).profile.bytes;
      },
    }));
    api.on('ddm.statusChanged', async (event, ctx) => {
      const change = event.changes.find((c) => c.name === 'management.declarations');
      if (!change) return;
      const { installs } = services(ctx);
      const install = await installs.get(event.deviceId);
      if (install?.delivery !== 'declaration' || install.state !== 'queued') return;
      if (declarationInstalled(JSON.parse(change.valueJson) as unknown, WEB_CLIP_DECLARATION))
        await installs.answered(event.deviceId, install.commandUuid, 'installed');
    });

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
