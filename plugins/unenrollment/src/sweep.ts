import type { PluginContext } from 'enrollment-gateway/sdk';
import type { UnenrollmentConfig } from './config.js';
import type { JobControl } from './jobs.js';
import type { UnenrollmentReader } from './storage/unenrollment-records.js';

/**
 * The periodic repair of what Redis lost: unfinished unenrollments whose job is gone get a new one.
 * (A lost device.checkedOut needs no repair since events became durable: mdm records the event before it
 * writes 'checked-out', and the core re-delivers it until this plugin's handler has run.)
 */
export async function sweep(
  ctx: PluginContext<UnenrollmentConfig>,
  records: Pick<UnenrollmentReader, 'inProgress'>,
  jobs: JobControl,
): Promise<{ inProgress: number; requeued: number }> {
  const open = await records.inProgress();
  let requeued = 0;
  for (const { id, deviceId } of open) if (await jobs.ensure(id, deviceId)) requeued++;
  if (requeued > 0) ctx.logger.warn({ requeued }, 're-queued unenrollments whose job was gone');
  return { inProgress: open.length, requeued };
}
