import type { Declaration, DeclarationTarget } from 'enrollment-gateway/sdk';
import { kindOf } from './protocol/declarations.js';
import { assigned, compareVersions, type DdmSettings, type OsUpdatePolicy } from './settings.js';

/** Identifiers of the gateway's own declarations start with this; contributors may not use it. */
export const BUILTIN_PREFIX = 'gateway.ddm.';
const ACTIVATION = 'com.apple.activation.simple';

/** The OS update policy that applies to the device: the first one assigned to it. */
export function osUpdateFor(settings: DdmSettings, target: DeclarationTarget): OsUpdatePolicy | undefined {
  return settings.osUpdates.find((policy) => assigned(policy.assignment, target));
}

/** softwareupdate.enforcement.specific exists from iOS 17 on. */
const supportsEnforcement = (osVersion: string | undefined) => !osVersion || compareVersions(osVersion, '17.0') >= 0;

/** The gateway's own configurations and management properties for one device, plus their activation. */
export function builtInDeclarations(settings: DdmSettings, target: DeclarationTarget): Declaration[] {
  const configurations: Declaration[] = [
    {
      type: 'com.apple.configuration.management.status-subscriptions',
      identifier: `${BUILTIN_PREFIX}status-subscriptions`,
      payload: { StatusItems: settings.statusSubscriptions.map((Name) => ({ Name })) },
    },
  ];
  if (settings.passcode && assigned(settings.passcode.assignment, target)) {
    const { assignment: _, ...p } = settings.passcode;
    configurations.push({
      type: 'com.apple.configuration.passcode.settings',
      identifier: `${BUILTIN_PREFIX}passcode`,
      payload: {
        RequirePasscode: p.requirePasscode,
        RequireAlphanumericPasscode: p.requireAlphanumericPasscode,
        MinimumLength: p.minimumLength,
        MaximumFailedAttempts: p.maximumFailedAttempts,
        MaximumInactivityInMinutes: p.maximumInactivityInMinutes,
      },
    });
  }
  const update = osUpdateFor(settings, target);
  if (update && supportsEnforcement(target.osVersion)) {
    configurations.push({
      type: 'com.apple.configuration.softwareupdate.enforcement.specific',
      identifier: `${BUILTIN_PREFIX}os-update`,
      payload: {
        TargetOSVersion: update.targetOSVersion,
        TargetBuildVersion: update.targetBuildVersion,
        TargetLocalDateTime: update.deadline,
        DetailsURL: update.detailsUrl,
      },
    });
  }
  const declarations = [activation(`${BUILTIN_PREFIX}activation`, configurations), ...configurations];
  // Management properties exist from iOS 16 on.
  if (target.osVersion && compareVersions(target.osVersion, '16.0') < 0) return declarations;
  return [
    ...declarations,
    {
      type: 'com.apple.management.properties',
      identifier: `${BUILTIN_PREFIX}properties`,
      payload: {
        ...settings.managementProperties,
        ...(target.profileId ? { 'enrollment-profile': target.profileId } : {}),
      },
    },
  ];
}

function activation(identifier: string, configurations: readonly Declaration[]): Declaration {
  return {
    type: ACTIVATION,
    identifier,
    payload: { StandardConfigurations: configurations.map((c) => c.identifier) },
  };
}

/** Why a contributed declaration is refused, or undefined when it is usable. */
export function contributedProblem(d: Declaration): string | undefined {
  if (!kindOf(d.type)) return `type "${d.type}" is not an activation, configuration, asset or management declaration`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(d.identifier)) return `identifier "${d.identifier}" is not 1-64 of [A-Za-z0-9._-]`;
  if (d.identifier.startsWith(BUILTIN_PREFIX)) return `identifier "${d.identifier}" uses the gateway's prefix`;
  if (typeof d.payload !== 'object' || d.payload === null || Array.isArray(d.payload))
    return 'payload is not a dictionary';
  return undefined;
}

/** A plugin's configurations none of its own activations reference get one activation for the plugin. */
export function withActivation(plugin: string, declarations: readonly Declaration[]): Declaration[] {
  const referenced = new Set(
    declarations
      .filter((d) => kindOf(d.type) === 'activation')
      .flatMap((d) => (Array.isArray(d.payload.StandardConfigurations) ? d.payload.StandardConfigurations : [])),
  );
  const loose = declarations.filter((d) => kindOf(d.type) === 'configuration' && !referenced.has(d.identifier));
  if (loose.length === 0) return [...declarations];
  return [activation(`${BUILTIN_PREFIX}activation.${plugin}`.slice(0, 64), loose), ...declarations];
}
