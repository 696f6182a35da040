import type { Declaration, DeclarationTarget, DeclarativeStatusItem } from 'enrollment-gateway/sdk';

/**
 * Readiness from declarative status (docs/jit-registration.md): iOS 16+ reports the apps MDM installed in the status
 * item `mdm.app` (Authenticator is installed by InstallApplication), and the apps declarations installed in
 * `app.managed.list` (iOS 17.2+). Both are arrays of { identifier, state }, state in kebab case ('managed').
 */
export const APP_STATUS_ITEMS = ['mdm.app', 'app.managed.list'] as const;

export const SUBSCRIPTION_IDENTIFIER = 'jit-registration.status-subscriptions';

/** mdm.app exists from iOS 16 on; a device whose OS is unknown gets the subscription too (it ignores what it lacks). */
function reportsMdmApps(osVersion: string | undefined): boolean {
  const major = Number(osVersion?.split('.')[0]);
  return !osVersion || !Number.isFinite(major) || major >= 16;
}

/** The status subscription jit-registration contributes to a device's declarations (the ddm plugin activates it). */
export function appStatusSubscription(target: DeclarationTarget): Declaration[] {
  if (!reportsMdmApps(target.osVersion)) return [];
  return [
    {
      type: 'com.apple.configuration.management.status-subscriptions',
      identifier: SUBSCRIPTION_IDENTIFIER,
      payload: { StatusItems: APP_STATUS_ITEMS.map((Name) => ({ Name })) },
    },
  ];
}

/** 'managed-but-uninstalled' → 'ManagedButUninstalled': the names ManagedApplicationList gives the same states. */
export function commandStatusOf(state: string): string {
  return state
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The app's state in one status item's value; undefined when the list does not name it (or names it removed). */
export function appStateIn(value: unknown, bundleId: string): string | undefined {
  if (!Array.isArray(value)) return undefined;
  const entry = value.find((e): e is Record<string, unknown> => isDict(e) && e.identifier === bundleId);
  if (!entry || entry._removed === true || typeof entry.state !== 'string') return undefined;
  return commandStatusOf(entry.state);
}

/**
 * What the device's latest declarative status says about the app: `reports` when it reports its apps by status at
 * all (then no ManagedApplicationList is needed), and the app's status in command terms when it names it.
 */
export function appStatusFrom(
  items: readonly DeclarativeStatusItem[],
  bundleId: string,
): { reports: boolean; status?: string } {
  const lists = items.filter((i) => (APP_STATUS_ITEMS as readonly string[]).includes(i.name));
  const states = lists.map((i) => appStateIn(i.value, bundleId)).filter((s): s is string => s !== undefined);
  // Managed by either channel counts (an app moved from MDM to a declaration is 'removed' from mdm.app).
  const status = states.find((s) => s === 'Managed') ?? states[0];
  return { reports: lists.length > 0, ...(status ? { status } : {}) };
}
