import {
  DECLARATIONS_STATUS_ITEM,
  declarationOutcome,
  declarativeManagementRef,
  deviceCommandsRef,
  type LegacyProfile,
  type PluginContext,
  stableUuid,
} from 'enrollment-gateway/sdk';
import type { WebClipProfile } from './profile.js';
import type { WebClipInstallRecords } from './storage/installs.js';

const ORIGIN = 'web-clip';
/** The legacy declaration that carries the profile to devices that take declarations. */
export const WEB_CLIP_DECLARATION = 'web-clip.profile';

export interface DeliveryDeps {
  currentProfile(): Promise<{ profile: WebClipProfile; label: string }>;
  installs: WebClipInstallRecords;
}

/**
 * device.enrolled: InstallProfile, or — for a device that takes declarations — a record saying the ddm plugin
 * serves the profile by a legacy declaration. The ids come from the event, so a redelivery queues nothing twice and
 * keeps the decision the first delivery stored.
 */
export async function deliverOnEnrollment(
  ctx: PluginContext<unknown>,
  deps: DeliveryDeps,
  deviceId: string,
  eventId: string,
): Promise<void> {
  const { profile, label } = await deps.currentProfile();
  const commandUuid = stableUuid(eventId, 'web-clip InstallProfile');
  const declarationId = stableUuid(eventId, 'web-clip declaration');
  const existing = await deps.installs.get(deviceId);
  const decided = existing?.commandUuid === commandUuid || existing?.commandUuid === declarationId;
  const byDeclaration = decided
    ? existing.delivery === 'declaration'
    : (await ctx.tryResolve(declarativeManagementRef)?.takesDeclarations?.(deviceId)) === true;
  if (byDeclaration) {
    // The ddm plugin serves it (legacyWebClip). The device may have synced before this record existed (ddm's own
    // device.enrolled handler runs beside this one): a set that now holds the clip is sent again.
    if (!decided) await deps.installs.queued(deviceId, profile.identifier, label, declarationId, 'declaration');
    await ctx.tryResolve(declarativeManagementRef)?.requestSync([deviceId]);
    return;
  }
  const [queued] = await ctx.resolve(deviceCommandsRef).enqueue([deviceId], {
    commandUuid,
    requestType: 'InstallProfile',
    payload: { Payload: profile.bytes },
    origin: ORIGIN,
  });
  // A retry after the device already answered must not set the install back to "queued".
  const recorded = queued && !queued.created && existing?.commandUuid === queued.commandUuid;
  if (queued && !recorded) await deps.installs.queued(deviceId, profile.identifier, label, queued.commandUuid);
}

/**
 * The profile by legacy declaration, for devices whose install says so: built from the settings in force, so a
 * save reaches them with their next sync (the save asks the ddm plugin to re-sync).
 */
export function legacyWebClip(deps: () => DeliveryDeps): LegacyProfile {
  return {
    identifier: WEB_CLIP_DECLARATION,
    async profileFor(target) {
      const install = await deps().installs.get(target.deviceId);
      if (install?.delivery !== 'declaration' || install.state === 'removed') return undefined;
      return (await deps().currentProfile()).profile.bytes;
    },
  };
}

/** ddm.statusChanged: a declaration install is recorded installed once the device reports it valid and active. */
export async function onDeclarationStatus(
  deps: DeliveryDeps,
  event: { deviceId: string; changes: { name: string; valueJson: string }[] },
): Promise<void> {
  const change = event.changes.find((c) => c.name === DECLARATIONS_STATUS_ITEM);
  if (!change) return;
  const install = await deps.installs.get(event.deviceId);
  if (install?.delivery !== 'declaration' || install.state !== 'queued') return;
  const outcome = declarationOutcome(JSON.parse(change.valueJson) as unknown, WEB_CLIP_DECLARATION);
  if (outcome?.state === 'done') await deps.installs.answered(event.deviceId, install.commandUuid, 'installed');
  // A refused clip is recorded failed with the device's reason, as a refused InstallProfile is.
  else if (outcome) await deps.installs.answered(event.deviceId, install.commandUuid, 'failed', outcome.detail);
}
