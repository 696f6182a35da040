import { createHash } from 'node:crypto';
import { build as buildPlist, type PlistValue } from 'plist';

export interface WebClipSettings {
  identifier: string;
  label: string;
  url: string;
  icon: Buffer;
  isRemovable: boolean;
  fullScreen: boolean;
  organization: string;
}

export interface WebClipProfile {
  /** PayloadIdentifier of the profile: what RemoveProfile names at unenrollment. */
  identifier: string;
  dict: Record<string, PlistValue>;
  /** XML plist bytes: the InstallProfile `Payload`. */
  bytes: Buffer;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Apple: "less than 1 MB when uncompressed"; a PNG that large compressed would be far over. */
const MAX_ICON_BYTES = 1_000_000;

/** Refuses an icon iOS would not show: not a PNG, or too large. */
export function checkIcon(icon: Buffer, source: string): Buffer {
  if (icon.length < 24 || !icon.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error(`${source} is not a PNG file`);
  // The PNG spec puts IHDR first; its width and height are the next eight bytes.
  if (icon.toString('latin1', 12, 16) !== 'IHDR') throw new Error(`${source} is not a PNG file (no IHDR header)`);
  if (icon.length > MAX_ICON_BYTES) throw new Error(`${source} is larger than 1 MB`);
  const width = icon.readUInt32BE(16);
  const height = icon.readUInt32BE(20);
  if (width !== height || width > 400)
    throw new Error(`${source} must be square and at most 400 × 400 (${width} × ${height})`);
  return icon;
}

function stableUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

/**
 * A Configuration profile with one com.apple.webClip.managed payload. The identifiers and UUIDs stay the same for
 * the same settings, so installing it again replaces it and unenrollment can remove it by identifier.
 */
export function buildWebClipProfile(settings: WebClipSettings): WebClipProfile {
  const payloadIdentifier = `${settings.identifier}.payload`;
  const dict: Record<string, PlistValue> = {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: settings.identifier,
    PayloadUUID: stableUuid(settings.identifier),
    PayloadDisplayName: settings.label,
    PayloadDescription: `Adds ${settings.label} to the Home Screen`,
    PayloadOrganization: settings.organization,
    PayloadContent: [
      {
        PayloadType: 'com.apple.webClip.managed',
        PayloadVersion: 1,
        PayloadIdentifier: payloadIdentifier,
        PayloadUUID: stableUuid(payloadIdentifier),
        PayloadDisplayName: settings.label,
        URL: settings.url,
        Label: settings.label,
        Icon: settings.icon,
        IsRemovable: settings.isRemovable,
        FullScreen: settings.fullScreen,
        // The icon is drawn full bleed already; no shine.
        Precomposed: true,
      },
    ],
  };
  return { identifier: settings.identifier, dict, bytes: Buffer.from(buildPlist(dict), 'utf8') };
}
