import { z } from 'zod';

/**
 * The admin-edited DDM settings (one versioned document, docs/ddm.md): OS update policies and built-in
 * configurations, each assigned to devices by their enrollment profile or their user's groups.
 */

const id = z.string().min(1).max(128);
export const assignmentSchema = z
  .object({
    allDevices: z.boolean().default(false).describe('Every enrolled device'),
    groups: z.array(id).max(100).default([]).describe("Group object ids of the devices' users"),
    profiles: z.array(id).max(100).default([]).describe('Enrollment profile ids the devices enrolled with'),
  })
  .describe('Which devices: all, or those of these groups or enrollment profiles');
export type Assignment = z.output<typeof assignmentSchema>;

const osVersion = z.string().regex(/^\d{1,3}(\.\d{1,3}){1,2}$/, 'an OS version such as 17.5 or 17.5.1');
const localDateTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/, 'a local date and time: yyyy-mm-ddThh:mm:ss')
  // Only checked when the shape is right, so a malformed value gets one message.
  .refine((v) => !/^\d{4}-/.test(v) || !Number.isNaN(Date.parse(`${v}Z`)), 'not a real date');

export const osUpdatePolicySchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lower-case letters, digits and dashes, at most 32'),
  targetOSVersion: osVersion.describe('The iOS/iPadOS version devices must install, e.g. 17.5'),
  targetBuildVersion: z
    .string()
    .regex(/^[0-9A-Za-z]{3,16}$/)
    .optional(),
  deadline: localDateTime.describe("When the device installs by force, in the device's local time"),
  detailsUrl: z
    .url({ protocol: /^https$/ })
    .max(1024)
    .optional(),
  assignment: assignmentSchema,
});
export type OsUpdatePolicy = z.output<typeof osUpdatePolicySchema>;

export const passcodeSettingsSchema = z.object({
  requirePasscode: z.boolean().default(true),
  requireAlphanumericPasscode: z.boolean().optional(),
  minimumLength: z.number().int().min(4).max(16).optional(),
  maximumFailedAttempts: z.number().int().min(2).max(11).optional(),
  maximumInactivityInMinutes: z.number().int().min(1).max(15).optional(),
  assignment: assignmentSchema,
});
export type PasscodeSettings = z.output<typeof passcodeSettingsSchema>;

/** Status items devices report by default: model and OS, passcode, software update, declarations. */
export const DEFAULT_STATUS_SUBSCRIPTIONS = [
  'device.model.family',
  'device.model.identifier',
  'device.operating-system.version',
  'device.operating-system.build-version',
  'passcode.is-compliant',
  'passcode.is-present',
  'softwareupdate.install-state',
  'softwareupdate.pending-version',
  'softwareupdate.failure-reason',
  'management.declarations',
];

const propertyKey = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and -');

export const ddmSettingsSchema = z.object({
  osUpdates: z
    .array(osUpdatePolicySchema)
    .max(20)
    .default([])
    .describe('OS update policies; a device gets the first one assigned to it')
    .refine((list) => new Set(list.map((p) => p.id)).size === list.length, 'policy ids must be unique'),
  passcode: passcodeSettingsSchema.nullable().default(null).describe('Passcode settings; null sends none'),
  statusSubscriptions: z
    .array(z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/))
    .max(50)
    .default(DEFAULT_STATUS_SUBSCRIPTIONS)
    .describe('Status items every device reports as they change'),
  managementProperties: z
    .record(propertyKey, z.union([z.string().max(256), z.number(), z.boolean()]))
    .default({})
    .refine((r) => Object.keys(r).length <= 50, 'at most 50 properties')
    .describe('Properties for activation predicates (com.apple.management.properties)'),
});
export type DdmSettings = z.output<typeof ddmSettingsSchema>;

export const defaultSettings = (): DdmSettings => ddmSettingsSchema.parse({});

/** Whether an assignment takes a device with this enrollment profile and these groups. */
export function assigned(assignment: Assignment, target: { profileId?: string; groups: readonly string[] }): boolean {
  if (assignment.allDevices) return true;
  if (target.profileId && assignment.profiles.includes(target.profileId)) return true;
  return assignment.groups.some((g) => target.groups.includes(g));
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
