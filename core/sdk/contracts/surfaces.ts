import { createExtensionPoint } from '../refs.js';
import type { DeviceRecord } from './mdm.js';

/** A line about a device that a plugin adds to the portal's device page and the admin devices list. */
export interface DeviceStatusItem {
  /** Short label: "Compliance". */
  label: string;
  /** "Not compliant". */
  value: string;
  tone: 'ok' | 'info' | 'warning' | 'critical';
  /** What the device user can do about it: "Update iOS to 17.5 or later". */
  action?: string;
}

/**
 * Contributes status lines for devices, asked for many devices at once (a list page). Must not throw for
 * one bad device; a contributor that throws is logged, counted and left out (see collectExtensions).
 */
export interface DeviceStatusContributor {
  statusFor(devices: readonly DeviceRecord[]): Promise<Record<string, DeviceStatusItem[]>>;
}
/** Owned by no plugin on purpose: the portal and the admin center both read it, and contributors need neither. */
export const deviceStatusItemsPoint = createExtensionPoint<DeviceStatusContributor>('devices.statusItems');

/** An entry in the admin center's navigation, shown to admins holding `scope`. */
export interface AdminNavigationEntry {
  /** Unique among entries: "webhooks". */
  id: string;
  label: string;
  /** A gateway path: "/admin/webhooks", or an admin API route the center renders as JSON. */
  path: string;
  scope: string;
  /** Lower comes first; built-in entries use multiples of 10. */
  order?: number;
}
/** Owned by no plugin, so a contributor needs no dependency on the admin center. */
export const adminNavigationPoint = createExtensionPoint<AdminNavigationEntry>('admin.navigation');
