/**
 * The partner test harness, exported as `enrollment-gateway/testing`: start the real gateway with your plugin,
 * the MDM server and an admin token, then enroll simulated iPhones against it.
 *
 *   import { startPluginHarness } from 'enrollment-gateway/testing';
 *   const h = await startPluginHarness({ plugins: [myPlugin], config: { plugins: { 'my-plugin': { … } } } });
 *   const { device, deviceId } = await h.enrollDevice({ osVersion: '16.7' });
 *   await device.poll();                       // answers the commands your plugin queued
 *   const res = await h.adminFetch('/api/my-plugin/things');
 *   await h.stop();
 *
 * It needs a MongoDB-wire server and Redis: MONGODB_URI and REDIS_URL (`npm test` in this repository starts
 * both). Each harness gets its own database and Redis prefix, so tests can run side by side. TypeScript source:
 * run tests with `node --conditions=source --import tsx` (mocha: `--node-option conditions=source --import tsx`).
 */
import {
  deviceDirectoryRef,
  type ExtensionPointRef,
  type PluginContext,
  type PluginDefinition,
} from '../../core/sdk/index.js';
import { SimulatedDevice, type SimulatedDeviceOptions } from './device-simulator.js';
import { eventsDelivered } from './events.js';
import { eventually } from './eventually.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from './fixture-plugins.js';
import { startTestGateway, type TestGateway } from './gateway.js';

export { type AnsweredCommand, type CommandScript, SimulatedDevice } from './device-simulator.js';
export { eventsDelivered } from './events.js';
export { eventually } from './eventually.js';
export { startTestGateway, type TestGateway, type TestGatewayOptions } from './gateway.js';

/** The public URL profiles carry; the simulator maps it onto the harness's real address. */
export const HARNESS_PUBLIC_URL = 'https://gateway.test';

/** Bearer tokens the harness accepts on admin routes: every scope, or only devices:read. */
export const HARNESS_ADMIN_TOKEN = 'admin-all';
export const HARNESS_READER_TOKEN = 'reader';

export interface PluginHarnessOptions {
  /** Your plugins (definitions, as `export default definePlugin(...)` gives them). */
  plugins: readonly PluginDefinition[];
  /** Built-in plugins to run besides mdm and admin-access, e.g. ['jit-registration']. */
  enable?: readonly string[];
  /** Config layered over the test defaults, e.g. { plugins: { 'my-plugin': { threshold: 3 } } }. */
  config?: Record<string, unknown>;
  /** Names the database and Redis prefix (letters and digits). Default: the first plugin's name. */
  label?: string;
  /** Environment the gateway reads (GATEWAY_* settings, *_FILE secrets). */
  env?: Record<string, string | undefined>;
}

export interface EnrolledDevice {
  device: SimulatedDevice;
  /** The gateway's id of the device (DeviceRecord.id, the deviceId of every event). */
  deviceId: string;
}

export interface PluginHarness {
  readonly gateway: TestGateway;
  /** Where the gateway listens, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  /** Parsed log lines; each carries `plugin` when a plugin's logger wrote it. */
  readonly logs: Record<string, unknown>[];
  /** Device ids the stand-in push service was asked to wake, one array per call. */
  readonly pushes: readonly string[][];
  /** How many of those calls woke this device. */
  pushesTo(deviceId: string): number;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** fetch with the admin bearer token (every scope) and a JSON content type. */
  adminFetch(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  /** The context a plugin's hooks receive: config, logger, services, extensions, queues, Mongo. */
  context<C = unknown>(plugin: string): PluginContext<C>;
  /** Contributions to an extension point, as the point's owner sees them. */
  contributions<T>(point: ExtensionPointRef<T>): readonly { plugin: string; value: T }[];
  /** Prometheus text of /metrics. */
  metrics(): Promise<string>;
  /**
   * Mints an enrollment link through the admin API and enrolls a simulated iPhone with it; resolves once every
   * plugin has handled device.enrolled (event handlers run in workers, after the TokenUpdate was answered).
   */
  enrollDevice(options?: { userId?: string } & Partial<SimulatedDeviceOptions>): Promise<EnrolledDevice>;
  stop(): Promise<void>;
}

/** Starts the gateway with your plugins, the mdm and admin-access plugins, an admin token and a stand-in push. */
export async function startPluginHarness(options: PluginHarnessOptions): Promise<PluginHarness> {
  if (!process.env.MONGODB_URI || !process.env.REDIS_URL) {
    throw new Error('the plugin harness needs MONGODB_URI (a MongoDB-wire server) and REDIS_URL (Redis)');
  }
  const push = recordingPush({ topic: TEST_TOPIC });
  const enable = [...new Set(['mdm', 'admin-access', ...(options.enable ?? [])])];
  const gw = await startTestGateway({
    label: options.label ?? options.plugins[0]?.name ?? 'harness',
    enable,
    plugins: [testAdminTokens, push.plugin, ...options.plugins],
    config: options.config,
    env: options.env,
  });

  const adminFetch = (path: string, init: RequestInit & { token?: string } = {}) => {
    const { token, headers, ...rest } = init;
    return gw.fetch(path, { ...rest, headers: { ...adminHeaders(token ?? HARNESS_ADMIN_TOKEN), ...headers } });
  };

  const enrollDevice = async (
    deviceOptions: { userId?: string } & Partial<SimulatedDeviceOptions> = {},
  ): Promise<EnrolledDevice> => {
    const { userId = 'alice', ...simulator } = deviceOptions;
    const mint = await adminFetch('/api/mdm/enrollments', { method: 'POST', body: JSON.stringify({ userId }) });
    if (mint.status !== 201)
      throw new Error(`minting an enrollment link answered ${mint.status}: ${await mint.text()}`);
    const { profileUrl } = (await mint.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: HARNESS_PUBLIC_URL, ...simulator });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    const directory = gw.gateway.context('mdm').resolve(deviceDirectoryRef);
    const deviceId = await eventually(async () => {
      const found = await directory.getByUdid(device.info.udid);
      if (!found) throw new Error(`device ${device.info.udid} is not recorded`);
      return found.id;
    });
    // Every plugin has handled device.enrolled (queued its commands) before the test polls.
    await eventsDelivered(gw.gateway);
    return { device, deviceId };
  };

  return {
    gateway: gw,
    url: gw.url,
    logs: gw.logs,
    pushes: push.woken,
    pushesTo: (deviceId: string) => push.woken.filter((batch) => batch.includes(deviceId)).length,
    fetch: gw.fetch,
    adminFetch,
    context: <C>(plugin: string) => gw.gateway.context(plugin) as PluginContext<C>,
    contributions: <T>(point: ExtensionPointRef<T>) => gw.gateway.context('mdm').extensions(point),
    metrics: () => gw.metrics(),
    enrollDevice,
    stop: () => gw.stop(),
  };
}
