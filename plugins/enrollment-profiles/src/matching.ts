import type {
  DevicePlatform,
  DeviceRecord,
  EnrollmentType,
  ResolutionOutcome,
  ResolvedProfile,
} from 'enrollment-gateway/sdk';

/** A profile ready for matching: what resolution needs, nothing else. */
export interface CompiledProfile {
  id: string;
  name: string;
  enrollmentType: EnrollmentType;
  priority: number;
  allUsers: boolean;
  includedGroups: readonly string[];
  excludedGroups: readonly string[];
  /** Precomputed text, so resolving against hundreds of profiles builds few strings. */
  label: string;
  notAssignedReason: string;
}

export interface CompiledLimitPolicy {
  id: string;
  name: string;
  groups: readonly string[];
  limit: number;
  priority: number;
}

/** What every replica caches: the profiles in priority order and the limit policies, at one revision. */
export interface CatalogSnapshot {
  revision: number;
  profiles: readonly CompiledProfile[];
  limitPolicies: readonly CompiledLimitPolicy[];
}

export const summary = (p: CompiledProfile): ResolvedProfile => ({
  id: p.id,
  name: p.name,
  enrollmentType: p.enrollmentType,
  priority: p.priority,
});

/** A profile at a position in the order, with its reason texts prepared. */
export function compileProfile(
  profile: Omit<CompiledProfile, 'label' | 'notAssignedReason' | 'priority'>,
  priority: number,
): CompiledProfile {
  const label = `priority ${priority} ${JSON.stringify(profile.name)}`;
  return {
    ...profile,
    priority,
    label,
    notAssignedReason: `${label} skipped: not assigned to all users, and the user is in none of its ${profile.includedGroups.length} included groups`,
  };
}

const firstMember = (groups: readonly string[], member: ReadonlySet<string>) => {
  for (const group of groups) if (member.has(group)) return group;
  return undefined;
};

/**
 * The highest-priority profile assigned to the user. An excluded group beats an included group and
 * "all users". Every profile above the match adds the reason it was skipped.
 */
export function matchProfile(
  profiles: readonly CompiledProfile[],
  userGroups: ReadonlySet<string>,
): { profile?: CompiledProfile; reasons: string[] } {
  const reasons: string[] = [];
  for (const profile of profiles) {
    const excludedBy = firstMember(profile.excludedGroups, userGroups);
    if (excludedBy !== undefined) {
      reasons.push(`${profile.label} skipped: the user is in its excluded group ${excludedBy}`);
      continue;
    }
    if (profile.allUsers) {
      reasons.push(`${profile.label} applies: assigned to all users`);
      return { profile, reasons };
    }
    const includedBy = firstMember(profile.includedGroups, userGroups);
    if (includedBy !== undefined) {
      reasons.push(`${profile.label} applies: the user is in its included group ${includedBy}`);
      return { profile, reasons };
    }
    reasons.push(profile.notAssignedReason);
  }
  reasons.push(profiles.length === 0 ? 'no enrollment profiles exist' : 'no profile is assigned to the user');
  return { reasons };
}

export const NO_PROFILE_MESSAGE =
  "Your organization hasn't set up enrollment for your account. Contact your IT support for help.";
export const UNSUPPORTED_MESSAGES: Record<Exclude<DevicePlatform, 'iOS' | 'iPadOS'>, string> = {
  android:
    "Android devices can't be enrolled here. Use this page on an iPhone or iPad, or ask your IT support how to enroll an Android device.",
  macOS: "Computers can't be enrolled here. Open this page in Safari on the iPhone or iPad you want to enroll.",
  windows: "Computers can't be enrolled here. Open this page in Safari on the iPhone or iPad you want to enroll.",
  unknown: "We couldn't recognize this device. Open this page in Safari on the iPhone or iPad you want to enroll.",
};
export const ACCOUNT_DRIVEN_MESSAGE =
  'To enroll this device, open Settings, tap General, then VPN & Device Management, and sign in to your work account.';
export const COMPANY_PORTAL_MESSAGE =
  'To enroll this device, install the Company Portal app from the App Store and sign in there.';

/** First version with web-based device enrollment (Intune requires iOS/iPadOS 15). */
export const WEB_ENROLLMENT_MIN_MAJOR = 15;

/**
 * How the matched profile is served on this device. Without a platform (a helpdesk link) the OS
 * is not checked. 14.x and older never get web enrollment: they go to the Company Portal app.
 */
export function gateByPlatform(
  enrollmentType: EnrollmentType,
  platform: DevicePlatform | undefined,
  osVersion: string | undefined,
): { outcome: ResolutionOutcome; reason: string; userMessage?: string } {
  if (enrollmentType === 'account-driven') return accountDriven(platform, osVersion);
  if (platform === undefined) {
    return enrollmentType === 'web-based'
      ? { outcome: 'web-enrollment', reason: 'platform not known here: the OS version was not checked' }
      : {
          outcome: 'company-portal-app',
          reason: 'app-based profile: enrollment happens in the Company Portal app',
          userMessage: COMPANY_PORTAL_MESSAGE,
        };
  }
  if (platform !== 'iOS' && platform !== 'iPadOS') {
    return {
      outcome: 'unsupported-platform',
      reason: `platform ${platform} is not supported: only iOS and iPadOS enroll here`,
      userMessage: UNSUPPORTED_MESSAGES[platform],
    };
  }
  const portal = (reason: string) => ({
    outcome: 'company-portal-app' as const,
    reason,
    userMessage: COMPANY_PORTAL_MESSAGE,
  });
  if (enrollmentType === 'app-based') return portal('app-based profile: enrollment happens in the Company Portal app');
  const major = Number.parseInt(osVersion ?? '', 10);
  if (!Number.isFinite(major)) {
    return portal(`${platform} version unknown: web-based enrollment needs ${WEB_ENROLLMENT_MIN_MAJOR} or later`);
  }
  if (major < WEB_ENROLLMENT_MIN_MAJOR) {
    return portal(
      `${platform} ${osVersion} is older than ${WEB_ENROLLMENT_MIN_MAJOR}: the web-based profile falls back to the Company Portal app`,
    );
  }
  return { outcome: 'web-enrollment', reason: `${platform} ${osVersion} supports web-based enrollment` };
}

/**
 * An account-driven profile: User Enrollment from Settings, iOS/iPadOS 15 and later. Without a platform (a helpdesk
 * link) the OS is not checked; other platforms and older versions cannot enroll this way.
 */
function accountDriven(
  platform: DevicePlatform | undefined,
  osVersion: string | undefined,
): { outcome: ResolutionOutcome; reason: string; userMessage?: string } {
  const enroll = (reason: string) => ({
    outcome: 'account-driven-enrollment' as const,
    reason,
    userMessage: ACCOUNT_DRIVEN_MESSAGE,
  });
  if (platform === undefined)
    return enroll('account-driven profile; platform not known here: the OS version was not checked');
  if (platform !== 'iOS' && platform !== 'iPadOS') {
    return {
      outcome: 'unsupported-platform',
      reason: `platform ${platform} is not supported: only iOS and iPadOS enroll here`,
      userMessage: UNSUPPORTED_MESSAGES[platform],
    };
  }
  const major = Number.parseInt(osVersion ?? '', 10);
  if (Number.isFinite(major) && major < WEB_ENROLLMENT_MIN_MAJOR) {
    return {
      outcome: 'unsupported-platform',
      reason: `${platform} ${osVersion} is older than ${WEB_ENROLLMENT_MIN_MAJOR}: account-driven enrollment needs ${WEB_ENROLLMENT_MIN_MAJOR} or later`,
      userMessage: `Update this device to ${platform} ${WEB_ENROLLMENT_MIN_MAJOR} or later, then sign in to your work account in Settings.`,
    };
  }
  return enroll(`account-driven profile: ${platform} ${osVersion ?? '(version unknown)'} enrolls from Settings`);
}

/** The limit for a user: the first policy (by priority) naming one of the user's groups, else the default. */
export function limitFor(
  policies: readonly CompiledLimitPolicy[],
  userGroups: ReadonlySet<string>,
  defaultLimit: number,
): { limit: number; policy?: CompiledLimitPolicy; group?: string } {
  for (const policy of policies) {
    const group = firstMember(policy.groups, userGroups);
    if (group !== undefined) return { limit: policy.limit, policy, group };
  }
  return { limit: defaultLimit };
}

const DAY_MS = 86_400_000;
export const ACTIVE_WINDOW_MS = 90 * DAY_MS;
export const PENDING_WINDOW_MS = DAY_MS;

/**
 * Whether a device counts toward the limit: enrolled and seen within 90 days, or an enrollment
 * still pending for less than 24 hours. Checked-out, retiring and retired devices never count.
 */
export function countsTowardLimit(device: DeviceRecord, now: number): boolean {
  if (device.state === 'enrolled') {
    const seen = device.lastSeenAt ?? device.enrolledAt;
    return seen !== undefined && now - new Date(seen).getTime() <= ACTIVE_WINDOW_MS;
  }
  if (device.state === 'pending') {
    const started = device.createdAt ?? device.lastSeenAt;
    return started !== undefined && now - new Date(started).getTime() <= PENDING_WINDOW_MS;
  }
  return false;
}
