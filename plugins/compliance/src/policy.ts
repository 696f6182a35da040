import type { DeviceStatusItem } from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { ComplianceConfig } from './config.js';
import { type CompliancePlatform, isOlder, osVersionSchema } from './versions.js';

/** The admin-editable policy; a PUT replaces it whole. */
export const compliancePolicySchema = z.strictObject({
  minimumIosVersion: osVersionSchema.nullable(),
  minimumIpadosVersion: osVersionSchema.nullable(),
  blockEnrollmentWhenNonCompliant: z.boolean(),
});

export type CompliancePolicy = z.output<typeof compliancePolicySchema>;

export function defaultPolicy(config: ComplianceConfig): CompliancePolicy {
  return {
    minimumIosVersion: config.minimumIosVersion ?? null,
    minimumIpadosVersion: config.minimumIpadosVersion ?? null,
    blockEnrollmentWhenNonCompliant: config.blockEnrollmentWhenNonCompliant,
  };
}

export function minimumFor(policy: CompliancePolicy, platform: CompliancePlatform): string | null {
  return platform === 'iPadOS' ? policy.minimumIpadosVersion : policy.minimumIosVersion;
}

/** What the gateway knows about a device's OS. */
export interface OsFacts {
  platform?: CompliancePlatform;
  osVersion?: string;
  reportedAt?: Date;
}

export type ComplianceState =
  /** No minimum applies to this device's platform: compliance has nothing to say. */
  | 'not-evaluated'
  /** A minimum applies but the device has not reported its OS version yet. */
  | 'pending'
  | 'compliant'
  | 'not-compliant';

export interface Evaluation {
  state: ComplianceState;
  platform?: CompliancePlatform;
  osVersion?: string;
  minimum?: string;
  /** What the device user should do, when not compliant. */
  action?: string;
}

/** Evaluated on read, so a changed policy applies to every device at once. */
export function evaluate(policy: CompliancePolicy, facts: OsFacts): Evaluation {
  const platform = facts.platform;
  if (!platform) {
    // Until the device says what it is, any minimum may apply to it.
    const anyMinimum = policy.minimumIosVersion ?? policy.minimumIpadosVersion;
    return { state: anyMinimum ? 'pending' : 'not-evaluated', osVersion: facts.osVersion };
  }
  const minimum = minimumFor(policy, platform);
  if (!minimum) return { state: 'not-evaluated', platform, osVersion: facts.osVersion };
  if (!facts.osVersion) return { state: 'pending', platform, minimum };
  if (isOlder(facts.osVersion, minimum)) {
    return {
      state: 'not-compliant',
      platform,
      osVersion: facts.osVersion,
      minimum,
      action: `Update ${platform} to ${minimum} or later`,
    };
  }
  return { state: 'compliant', platform, osVersion: facts.osVersion, minimum };
}

const LABEL = 'Compliance';

/** The line the portal's device page and the admin devices list show; none when no minimum applies. */
export function statusItem(evaluation: Evaluation): DeviceStatusItem | undefined {
  switch (evaluation.state) {
    case 'not-compliant':
      return { label: LABEL, value: 'Not compliant', tone: 'critical', action: evaluation.action };
    case 'compliant':
      return { label: LABEL, value: 'Compliant', tone: 'ok' };
    case 'pending':
      return { label: LABEL, value: 'Checking', tone: 'info' };
    default:
      return undefined;
  }
}
