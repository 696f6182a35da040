import { expect } from 'chai';
import type { PluginHarness } from 'enrollment-gateway/testing';

/** The admin API's view of a device's declarations and status (GET /api/ddm/devices/:id), as the test reads it. */
export async function ddmDeviceView<T>(h: PluginHarness, deviceId: string): Promise<T> {
  const res = await h.adminFetch(`/api/ddm/devices/${deviceId}`);
  expect(res.status, await res.clone().text()).to.equal(200);
  return (await res.json()) as T;
}
