import type { DeviceRecord, DeviceStatusItem } from 'enrollment-gateway/sdk';
import type { DdmService } from './ddm-service.js';

const STATE_TEXT: Record<string, string> = {
  available: 'available',
  waiting: 'waiting to start',
  downloading: 'downloading',
  prepared: 'ready to install',
  installing: 'installing',
  failed: 'failed',
};

/**
 * The portal's device page and the admin devices list: a required OS update the device has not installed yet.
 * At most a page of devices at a time, so one standing per device is affordable.
 */
export async function updateStatusItems(
  ddm: DdmService,
  devices: readonly DeviceRecord[],
): Promise<Record<string, DeviceStatusItem[]>> {
  const items: Record<string, DeviceStatusItem[]> = {};
  await Promise.all(
    devices.slice(0, 200).map(async (device) => {
      const standing = await ddm.softwareUpdate(device.id);
      if (!standing || standing.state === 'installed') return;
      const when = standing.deadline.replace('T', ' ').slice(0, 16);
      items[device.id] = [
        {
          label: 'Software update',
          value: `iOS ${standing.targetOSVersion} required, ${STATE_TEXT[standing.state] ?? standing.state}`,
          tone: standing.state === 'failed' ? 'critical' : 'warning',
          action: `Install iOS ${standing.targetOSVersion} before ${when}; after that it installs by itself`,
        },
      ];
    }),
  );
  return items;
}
