import { decodeCursor, encodeCursor } from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import { z } from 'zod';

export const DEVICE_STATES = ['pending', 'enrolled', 'checked-out', 'retiring', 'retired'] as const;
const SORTS = ['enrolled', '-enrolled', 'lastCheckIn', '-lastCheckIn'] as const;
export type Sort = (typeof SORTS)[number];
/** Sort key → the stored field; "enrolled" is creation order, which the ObjectId already is. */
export const SORT_FIELD: Record<Sort, '_id' | 'lastSeenAt'> = {
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
  udid: z.string(),
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
type Cursor = z.output<typeof cursorSchema>;

export const cursorOf = (sort: Sort, doc: { _id: unknown; lastSeenAt?: Date | null }) =>
  encodeCursor({
    s: sort,
    v: SORT_FIELD[sort] === 'lastSeenAt' ? (doc.lastSeenAt?.toISOString() ?? null) : null,
    id: String(doc._id),
  });

/**
 * Keyset pagination that stays stable while devices check in: the page after (value, _id) of the last
 * device seen. Missing check-ins sort first ascending and last descending, as MongoDB orders nulls.
 */
export function afterCursor(sort: Sort, cursor: Cursor): Record<string, unknown> {
  const descending = sort.startsWith('-');
  const id = new Types.ObjectId(cursor.id);
  const next = descending ? { $lt: id } : { $gt: id };
  if (SORT_FIELD[sort] === '_id') return { _id: next };
  if (cursor.v === null) {
    return descending
      ? { lastSeenAt: null, _id: next }
      : { $or: [{ lastSeenAt: null, _id: next }, { lastSeenAt: { $ne: null } }] };
  }
  const at = new Date(cursor.v);
  return descending
    ? { $or: [{ lastSeenAt: at, _id: next }, { lastSeenAt: { $lt: at } }, { lastSeenAt: null }] }
    : { $or: [{ lastSeenAt: at, _id: next }, { lastSeenAt: { $gt: at } }] };
}

export function deviceFilter(query: z.output<typeof listQuery>): Record<string, unknown>[] {
  const and: Record<string, unknown>[] = [];
  if (query.userId) and.push({ userId: query.userId });
  if (query.state) and.push({ state: { $in: query.state } });
  if (query.osVersion) and.push({ osVersion: { $regex: `^${escapeRegex(query.osVersion)}(\\.|$)` } });
  if (query.lastCheckInBefore) and.push({ lastSeenAt: { $lt: new Date(query.lastCheckInBefore) } });
  if (query.lastCheckInAfter) and.push({ lastSeenAt: { $gte: new Date(query.lastCheckInAfter) } });
  if (query.q) {
    const pattern = { $regex: escapeRegex(query.q), $options: 'i' };
    and.push({
      $or: [{ deviceName: pattern }, { serialNumber: pattern }, { udid: pattern }, { userId: pattern }],
    });
  }
  return and;
}

/** The find filter and sort of one page of the devices list. */
export function devicePageQuery(query: z.output<typeof listQuery>) {
  const and = deviceFilter(query);
  if (query.cursor) {
    const cursor = decodeCursor(
      query.cursor,
      cursorSchema.refine((c) => c.s === query.sort),
    );
    and.push(afterCursor(query.sort, cursor));
  }
  const direction = query.sort.startsWith('-') ? -1 : 1;
  const field = SORT_FIELD[query.sort];
  return {
    filter: and.length > 0 ? { $and: and } : {},
    sort: (field === '_id' ? { _id: direction } : { [field]: direction, _id: direction }) as Record<string, 1 | -1>,
  };
}
