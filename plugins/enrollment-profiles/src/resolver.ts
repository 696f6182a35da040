import {
  DEVICE_LIMIT_MESSAGE,
  type DeviceDirectory,
  type MdmSetupStatus,
  type ProfileResolver,
  type Resolution,
  type ResolveInput,
} from 'enrollment-gateway/sdk';
import type { ProfileCatalog } from './catalog.js';
import { countsTowardLimit, gateByPlatform, limitFor, matchProfile, NO_PROFILE_MESSAGE, summary } from './matching.js';

export const SETUP_INCOMPLETE_MESSAGE =
  "Enrollment isn't available yet because your organization is still setting it up. Try again later or contact your IT support.";

export interface ResolverDeps {
  catalog: ProfileCatalog;
  /** Looked up on each call: the providing plugins may be absent. */
  setup: () => MdmSetupStatus | undefined;
  devices: () => DeviceDirectory | undefined;
  defaultDeviceLimit: number;
  now?: () => number;
  onOutcome?: (outcome: Resolution['outcome']) => void;
}

/**
 * Resolution in the order the portal needs it: setup first (nothing is served without a CA, a
 * signing certificate and a push certificate), then the platform, the assigned profile, the
 * device limit, and finally how the profile is served on this OS.
 */
export class CatalogProfileResolver implements ProfileResolver {
  constructor(private readonly deps: ResolverDeps) {}

  async resolve(input: ResolveInput): Promise<Resolution> {
    const resolution = await this.evaluate(input);
    this.deps.onOutcome?.(resolution.outcome);
    return resolution;
  }

  private async evaluate(input: ResolveInput): Promise<Resolution> {
    const setup = this.deps.setup();
    const missing = setup ? await setup.missing() : [{ item: 'ca' as const, problem: 'the mdm plugin is not enabled' }];
    const snapshot = await this.deps.catalog.current();
    const userGroups = new Set(input.groups);
    const { profile, reasons } = matchProfile(snapshot.profiles, userGroups);
    const matched = profile ? summary(profile) : undefined;

    if (missing.length > 0) {
      return {
        outcome: 'setup-incomplete',
        profile: matched,
        reasons: [...missing.map((m) => `setup incomplete (${m.item}): ${m.problem}`), ...reasons],
        userMessage: SETUP_INCOMPLETE_MESSAGE,
      };
    }
    // Unsupported platforms are told so whatever their profile: nothing here can enroll them.
    if (input.platform !== undefined && input.platform !== 'iOS' && input.platform !== 'iPadOS') {
      const gate = gateByPlatform(profile?.enrollmentType ?? 'web-based', input.platform, input.osVersion);
      return {
        outcome: gate.outcome,
        profile: matched,
        reasons: [...reasons, gate.reason],
        userMessage: gate.userMessage,
      };
    }
    if (!profile || !matched) return { outcome: 'no-profile', reasons, userMessage: NO_PROFILE_MESSAGE };

    const limit = limitFor(snapshot.limitPolicies, userGroups, this.deps.defaultDeviceLimit);
    const limitSource = limit.policy
      ? `limit policy ${JSON.stringify(limit.policy.name)} (group ${limit.group})`
      : 'the default limit';
    const directory = this.deps.devices();
    let deviceLimit: Resolution['deviceLimit'];
    if (!directory) {
      reasons.push('device limit not checked: no device directory is available');
    } else {
      const now = this.deps.now?.() ?? Date.now();
      const active = (await directory.listForUser(input.userId)).filter((d) => countsTowardLimit(d, now)).length;
      deviceLimit = { limit: limit.limit, active, policy: limit.policy?.name };
      if (active >= limit.limit) {
        return {
          outcome: 'device-limit',
          profile: matched,
          reasons: [...reasons, `${active} active devices reach ${limitSource} of ${limit.limit}`],
          userMessage: DEVICE_LIMIT_MESSAGE,
          deviceLimit,
        };
      }
      reasons.push(`${active} active devices, under ${limitSource} of ${limit.limit}`);
    }
    const gate = gateByPlatform(profile.enrollmentType, input.platform, input.osVersion);
    return {
      outcome: gate.outcome,
      profile: matched,
      reasons: [...reasons, gate.reason],
      userMessage: gate.userMessage,
      ...(deviceLimit ? { deviceLimit } : {}),
    };
  }
}
