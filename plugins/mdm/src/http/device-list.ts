import { type DeviceRecord, decodeCursor, encodeCursor } from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { DeviceListing, ListPosition } from '../storage/device-listing.js';
import type { DeviceDoc } from '../storage/models.js';

export const DEVICE_STATES = ['pending', 'enrolled', 'checked-out', 'retiring', 'retired'] as const;
const SORTS = ['enrolled', '-enrolled', 'lastCheckIn', '-lastCheckIn'] as const;
export type Sort = (typeof SORTS)[number];
/** Sort key → the stored field; "enrolled" is creation order, which the ObjectId already is. */
const SORT_FIELD: Record<Sort, '_id' | 'lastSeenAt'> = {
  enrolled: '_id',
  '-enrolled': '_id',
  lastCheckIn: 'lastSeenAt',
  '-lastCheckIn': 'lastSeenAt',
};

const oneOrMany = <T extends z.ZodType>(item: T) =>
  z.union([item, z.array(item).max(10)]).transform((value) => (Array.isArray(value) ? value : [value]));

export const listQuery = z.object({
  q: z.string().trim().min(1).max(100).optional().describe('Search device name, serial number, UDID or user id'),
  userId: z.string().max(200).optional().describe('Devices of this user'),
  state: oneOrMany(z.enum(DEVICE_STATES)).optional().describe('One or more states (repeat the parameter)'),
  osVersion: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){0,2}$/)
    .optional()
    .describe('OS version or prefix: "17" matches 17.x, "17.5" matches 17.5 and 17.5.x'),
  lastCheckInBefore: z.iso.datetime({ offset: true }).optional().describe('Last check-in before this time'),
  lastCheckInAfter: z.iso.datetime({ offset: true }).optional().describe('Last check-in at or after this time'),
  sort: z.enum(SORTS).default('enrolled').describe('Order; a leading "-" sorts descending'),
  cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const statusItem = z.object({
  label: z.string(),
  value: z.string(),
  tone: z.enum(['ok', 'info', 'warning', 'critical']),
  action: z.string().optional(),
  source: z.string().describe('The plugin that reported it'),
});

export const deviceSchema = z.object({
  id: z.string(),
  udid: z.string().describe('The UDID; for a User Enrollment, the EnrollmentID the device reports instead'),
  userEnrollment: z.boolean().optional().describe('A User Enrollment (account-driven): known only by its EnrollmentID'),
  userId: z.string().optional(),
  enrollmentId: z.string().optional(),
  state: z.enum(DEVICE_STATES),
  model: z.string().optional(),
  productName: z.string().optional(),
  osVersion: z.string().optional(),
  serialNumber: z.string().optional(),
  deviceName: z.string().optional(),
  enrolledAt: z.date().optional(),
  lastSeenAt: z.date().optional().describe('Last check-in'),
  createdAt: z.date().optional(),
  pushable: z.boolean(),
  managedApps: z.array(
    z.object({ identifier: z.string(), status: z.string().optional(), version: z.string().optional() }),
  ),
  installedProfiles: z.array(z.object({ identifier: z.string(), displayName: z.string().optional() })),
  statusItems: z.array(statusItem).describe('Lines other plugins report about the device (compliance …)'),
});

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const cursorSchema = z.object({
  s: z.enum(SORTS),
  v: z.iso.datetime().nullable(),
  id: z.string().regex(/^[0-9a-f]{24}$/),
});

/** What a device page is filtered and sorted on. */
type Listed = Pick<
  DeviceRecord,
  'id' | 'userId' | 'udid' | 'state' | 'osVersion' | 'deviceName' | 'serialNumber' | 'lastSeenAt'
>;

/** The filters of the list, applied to assembled device records (their fields live in several collections). */
export function matchesQuery(query: z.output<typeof listQuery>): (device: Listed) => boolean {
  const os = query.osVersion ? new RegExp(`^${escapeRegex(query.osVersion)}(\\.|$)`) : undefined;
  const q = query.q ? new RegExp(escapeRegex(query.q), 'i') : undefined;
  const before = query.lastCheckInBefore ? new Date(query.lastCheckInBefore) : undefined;
  const after = query.lastCheckInAfter ? new Date(query.lastCheckInAfter) : undefined;
  return (d) =>
    (!query.userId || d.userId === query.userId) &&
    (!query.state || query.state.includes(d.state)) &&
    (!os || os.test(d.osVersion ?? '')) &&
    (!before || (d.lastSeenAt !== undefined && d.lastSeenAt < before)) &&
    (!after || (d.lastSeenAt !== undefined && d.lastSeenAt >= after)) &&
    (!q || [d.deviceName, d.serialNumber, d.udid, d.userId].some((v) => v !== undefined && q.test(v)));
}

/** Devices examined per request at most: a filter the database cannot apply returns a short page and a cursor. */
const MAX_EXAMINED = 2_000;

/**
 * One page of the devices list, read in the database's order (storage/device-listing.ts): batches of the
 * driving collection from the cursor on, each batch's devices assembled (one query per record kind) and
 * filtered on what other records hold (state, OS version, search), until the page is full. A filter few
 * devices match stops after MAX_EXAMINED devices with a shorter page (possibly empty) and a cursor to go on
 * from: a page never reads the whole fleet.
 */
export async function listDevices(
  listing: DeviceListing,
  assemble: (bindings: DeviceDoc[]) => Promise<DeviceRecord[]>,
  query: z.output<typeof listQuery>,
): Promise<{ page: DeviceRecord[]; nextCursor: string | null }> {
  const matches = matchesQuery(query);
  let after: ListPosition | undefined;
  if (query.cursor) {
    const cursor = decodeCursor(
      query.cursor,
      cursorSchema.refine((c) => c.s === query.sort),
    );
    after = { id: cursor.id, lastSeenAt: cursor.v === null ? null : new Date(cursor.v) };
  }
  const page: DeviceRecord[] = [];
  let examined = 0;
  for (;;) {
    const size = Math.min(200, Math.max(query.limit - page.length, 20));
    const batch = await listing.batch({
      order: SORT_FIELD[query.sort] === '_id' ? 'enrolled' : 'lastCheckIn',
      descending: query.sort.startsWith('-'),
      userId: query.userId,
      lastSeenAfter: query.lastCheckInAfter ? new Date(query.lastCheckInAfter) : undefined,
      lastSeenBefore: query.lastCheckInBefore ? new Date(query.lastCheckInBefore) : undefined,
      after,
      size,
    });
    const records = await assemble(batch.items.map((i) => i.binding));
    for (const [index, record] of records.entries()) {
      examined++;
      after = { id: record.id, lastSeenAt: batch.items[index].lastSeenAt };
      if (matches(record)) page.push(record);
      const more = index < records.length - 1 || batch.next !== undefined;
      if (page.length === query.limit || (examined >= MAX_EXAMINED && more))
        return { page, nextCursor: more ? positionCursor(query.sort, after) : null };
    }
    if (!batch.next) return { page, nextCursor: null };
    after = batch.next;
    if (examined >= MAX_EXAMINED) return { page, nextCursor: positionCursor(query.sort, after) };
  }
}

const positionCursor = (sort: Sort, at: ListPosition) =>
  encodeCursor({
    s: sort,
    v: SORT_FIELD[sort] === 'lastSeenAt' ? (at.lastSeenAt?.toISOString() ?? null) : null,
    id: at.id,
  });
