import { expect } from 'chai';
import { eventually, type PluginHarness } from 'enrollment-gateway/testing';
import type { SimulatedDevice } from '../../../test/support/device-simulator.js';

/** The admin API's view of a device's declarations and status (GET /api/ddm/devices/:id), as the test reads it. */
export async function ddmDeviceView<T>(h: PluginHarness, deviceId: string): Promise<T> {
  const res = await h.adminFetch(`/api/ddm/devices/${deviceId}`);
  expect(res.status, await res.clone().text()).to.equal(200);
  return (await res.json()) as T;
}

/** An admin retires the device (unenrollment); it polls until the gateway has taken its management away. */
export async function retireAndWait(h: PluginHarness, device: SimulatedDevice, deviceId: string): Promise<void> {
  const res = await h.adminFetch(`/api/unenrollment/devices/${deviceId}/retire`, { method: 'POST' });
  expect(res.status).to.equal(202);
  await eventually(async () => {
    await device.poll();
    expect(device.enrolled).to.equal(false);
  });
}
