import { createServiceRef } from '../refs.js';

/** What the gateway can tell about the browser or device asking to enroll. */
export type DevicePlatform = 'iOS' | 'iPadOS' | 'android' | 'macOS' | 'windows' | 'unknown';

/**
 * How a profile's users enroll: in Safari from the portal (web-based), in the Company Portal app (app-based), or
 * (since 2.8) by signing in to their work account in Settings → VPN & Device Management (account-driven User
 * Enrollment, iOS/iPadOS 15 and later).
 */
export type EnrollmentType = 'web-based' | 'app-based' | 'account-driven';

export type ResolutionOutcome =
  /** iOS/iPadOS 15 or later with a web-based profile: download the management profile in Safari. */
  | 'web-enrollment'
  /** An app-based profile, or iOS/iPadOS 14.x and older: send the user to the Company Portal app. */
  | 'company-portal-app'
  | 'unsupported-platform'
  | 'no-profile'
  /**
   * (since 2.8) An account-driven profile on iOS/iPadOS 15 or later: the user signs in to their work account in
   * Settings → VPN & Device Management; the portal explains how, the account-enrollment plugin enrolls.
   */
  | 'account-driven-enrollment'
  /** The CA, the signing certificate or the push certificate is missing: nothing is served. */
  | 'setup-incomplete'
  | 'device-limit';

export interface ResolveInput {
  userId: string;
  /** Group object ids the user belongs to. */
  groups: readonly string[];
  /** Omitted when the platform cannot be known (a helpdesk-issued link): OS gating is skipped. */
  platform?: DevicePlatform;
  /** "17.4.1"; for iOS and iPadOS. */
  osVersion?: string;
}

export interface ResolvedProfile {
  id: string;
  name: string;
  enrollmentType: EnrollmentType;
  /** 1 is the highest. */
  priority: number;
}

export interface Resolution {
  outcome: ResolutionOutcome;
  /** The effective profile; set whenever one matched, even when the outcome refuses enrollment. */
  profile?: ResolvedProfile;
  /** Why, in order: setup, which higher profiles did not match, which assignment matched, OS and limit checks. */
  reasons: string[];
  /** Text the portal may show the device user; never contains profile names. */
  userMessage?: string;
  /** Set when the device limit was evaluated. */
  deviceLimit?: { limit: number; active: number; policy?: string };
}

/** Picks the effective enrollment profile for a user and device. Provided by the enrollment-profiles plugin. */
export interface ProfileResolver {
  resolve(input: ResolveInput): Promise<Resolution>;
}
export const profileResolverRef = createServiceRef<ProfileResolver>('enrollment.profiles');

/** The portal shows exactly this at the device limit (Intune's wording). */
export const DEVICE_LIMIT_MESSAGE =
  'You have added the maximum number of devices allowed by your IT support. Remove a device before you can add a new one.';

/** Hints a page script can send because the User-Agent cannot tell (see DEVICE_HINT_SCRIPT). */
export interface DeviceClientHints {
  /** The browser reports a touch screen (navigator.maxTouchPoints > 1). No Mac has one. */
  touch?: boolean;
  /** The portal's own script decided this is an iPad. */
  ipad?: boolean;
}

/** Name of the cookie and query parameter carrying the touch hint ("touch=1"). */
export const TOUCH_HINT_NAME = 'touch';
/** Name of the cookie and query parameter carrying the iPad hint ("device=ipad"). */
export const DEVICE_HINT_NAME = 'device';

/**
 * A tiny inline script for portal pages. iPadOS Safari asks for desktop sites with a Macintosh
 * User-Agent; only the page can see the touch screen, so it leaves a cookie for the next request.
 */
export const DEVICE_HINT_SCRIPT =
  "if(navigator.maxTouchPoints>1&&/Macintosh/.test(navigator.userAgent)){document.cookie='touch=1; path=/; SameSite=Lax; Secure';}";

/** Reads the hints from a query object and a Cookie header. */
export function deviceHintsFrom(query: Record<string, unknown>, cookieHeader?: string): DeviceClientHints {
  const cookies = new Map<string, string>();
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const value = (name: string) => {
    const fromQuery = query[name];
    return typeof fromQuery === 'string' ? fromQuery : cookies.get(name);
  };
  return { touch: value(TOUCH_HINT_NAME) === '1', ipad: value(DEVICE_HINT_NAME) === 'ipad' };
}

export interface ParsedUserAgent {
  platform: DevicePlatform;
  /** Dotted version ("17.4.1") when the User-Agent carries one. */
  osVersion?: string;
}

const dotted = (version: string) => version.replace(/_/g, '.');

/**
 * Platform and OS version from a browser's User-Agent, as Intune reads it. iPadOS 13+ Safari in
 * desktop mode sends a Macintosh User-Agent; with a touch or iPad hint it is iPadOS, and its
 * Safari "Version/x.y" equals the iPadOS version.
 */
export function parseDeviceUserAgent(userAgent: string | undefined, hints: DeviceClientHints = {}): ParsedUserAgent {
  const ua = userAgent ?? '';
  let match = /\((iPhone|iPod)(?: touch)?;[^)]*?OS (\d+(?:_\d+){0,2})/.exec(ua);
  if (match) return { platform: 'iOS', osVersion: dotted(match[2]) };
  match = /\(iPad;[^)]*?OS (\d+(?:_\d+){0,2})/.exec(ua);
  if (match) return { platform: 'iPadOS', osVersion: dotted(match[1]) };
  if (/\(iPhone|\(iPod/.test(ua)) return { platform: 'iOS' };
  if (/\(iPad/.test(ua)) return { platform: 'iPadOS' };
  match = /Android(?:\s+(\d+(?:\.\d+){0,2}))?/.exec(ua);
  if (match) return match[1] ? { platform: 'android', osVersion: match[1] } : { platform: 'android' };
  if (/Macintosh/.test(ua)) {
    if (hints.touch || hints.ipad) {
      const safari = /Version\/(\d+(?:\.\d+){0,2})/.exec(ua);
      return safari ? { platform: 'iPadOS', osVersion: safari[1] } : { platform: 'iPadOS' };
    }
    const mac = /Mac OS X (\d+(?:[._]\d+){0,2})/.exec(ua);
    return mac ? { platform: 'macOS', osVersion: dotted(mac[1]) } : { platform: 'macOS' };
  }
  match = /Windows NT (\d+\.\d+)/.exec(ua);
  if (match) return { platform: 'windows', osVersion: match[1] };
  if (/Windows/.test(ua)) return { platform: 'windows' };
  return { platform: 'unknown' };
}
