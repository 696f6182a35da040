import { deviceRetirementRef, type PluginContext } from 'enrollment-gateway/sdk';
import type { UnenrollmentConfig } from './config.js';
import type { JobControl } from './jobs.js';
import type { UnenrollmentModels } from './models.js';
import { type Unenrollments, unenrollmentId } from './service.js';

/** Checked-out devices looked at per sweep; the rest wait for the next one. */
const CHECKED_OUT_BATCH = 200;

/**
 * The periodic repair of what Redis or a crash lost: unfinished unenrollments whose job is gone get a new one,
 * and devices that checked out without an unenrollment get one. mdm writes 'checked-out' and then raises
 * device.checkedOut in its own process; a crash in between would otherwise leave their secrets and
 * certificates in place for good.
 */
export async function sweep(
  ctx: PluginContext<UnenrollmentConfig>,
  models: UnenrollmentModels,
  jobs: JobControl,
  unenrollments: Unenrollments,
): Promise<{ inProgress: number; requeued: number; checkedOut: number }> {
  const open = await models.unenrollments
    .find({ state: 'in-progress' }, { _id: 1, deviceId: 1 })
    .lean<{ _id: string; deviceId: string }[]>();
  let requeued = 0;
  for (const { _id, deviceId } of open) if (await jobs.ensure(_id, deviceId)) requeued++;
  if (requeued > 0) ctx.logger.warn({ requeued }, 're-queued unenrollments whose job was gone');

  const devices = (await ctx.resolve(deviceRetirementRef).checkedOut?.(CHECKED_OUT_BATCH)) ?? [];
  const known = new Set(
    (
      await models.unenrollments
        .find({ _id: { $in: devices.map(unenrollmentId) } }, { _id: 1 })
        .lean<{ _id: string }[]>()
    ).map((d) => d._id),
  );
  let checkedOut = 0;
  for (const device of devices) {
    if (known.has(unenrollmentId(device))) continue;
    try {
      await unenrollments.start({
        deviceId: device.id,
        trigger: 'checkout',
        // The same request the device.checkedOut handler makes, so a late event joins it as a no-op.
        requestedBy: { kind: 'device', id: device.udid },
      });
      checkedOut++;
    } catch (error) {
      ctx.logger.warn(
        { deviceId: device.id, err: { message: (error as Error).message } },
        'could not start the unenrollment of a checked-out device',
      );
    }
  }
  if (checkedOut > 0) ctx.logger.warn({ checkedOut }, 'started unenrollments for checkouts whose event was lost');
  return { inProgress: open.length, requeued, checkedOut };
}
