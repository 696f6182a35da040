import { adminApi, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { DeviceViews } from '../storage/device-views.js';
import { toDeviceRecord } from '../storage/device-views.js';
import type { CertificateDoc, MdmModels } from '../storage/models.js';

const countSchema = z.array(z.object({ key: z.string(), count: z.number().int() }));

const count = (keys: readonly string[]) => {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return [...counts]
    .map(([key, n]) => ({ key, count: n }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
};

/**
 * GET /api/mdm/device-summary: devices by state and by OS version, and when the identity certificates of
 * enrolled devices expire (by month), for the admin center's overview. Reads what the device list reads.
 */
export function mountDeviceSummaryRoute(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: { models: MdmModels; views: DeviceViews },
): void {
  adminApi(router, ctx, { tags: ['devices'] }).get(
    '/device-summary',
    {
      scope: 'devices:read',
      summary: 'Devices by state and OS version, and identity certificate expiry by month (for the overview)',
      responses: {
        200: {
          description: 'Counts',
          schema: z.object({
            total: z.number().int(),
            byState: countSchema,
            byOsVersion: countSchema.describe('Major.minor ("17.5"); "unknown" before the first report'),
            certificateExpiry: countSchema.describe(
              'Enrolled devices by the month (YYYY-MM) their newest identity certificate expires, soonest first',
            ),
          }),
        },
      },
    },
    async (koa) => {
      const devices = (await deps.views.find({})).map(toDeviceRecord);
      const enrolled = devices.flatMap((d) => (d.state === 'enrolled' && d.enrollmentId ? [d.enrollmentId] : []));
      const certificates = await deps.models.certificates
        .find({ enrollmentId: { $in: enrolled } }, { enrollmentId: 1, notAfter: 1 })
        .lean<Pick<CertificateDoc, 'enrollmentId' | 'notAfter'>[]>();
      const newest = new Map<string, Date>();
      for (const cert of certificates) {
        const key = cert.enrollmentId ?? '';
        if (!newest.has(key) || (newest.get(key) as Date) < cert.notAfter) newest.set(key, cert.notAfter);
      }
      const expiry = count([...newest.values()].map((at) => at.toISOString().slice(0, 7))).sort((a, b) =>
        a.key.localeCompare(b.key),
      );
      koa.body = {
        total: devices.length,
        byState: count(devices.map((d) => d.state)),
        byOsVersion: count(devices.map((d) => d.osVersion?.split('.').slice(0, 2).join('.') ?? 'unknown')),
        certificateExpiry: expiry,
      };
    },
  );
}
