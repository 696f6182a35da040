import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ApnsStandin, createTestPki } from '../../../test/support/apns-standin.js';
import { type DeviceInfoOptions, SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../../../test/support/gateway.js';

export const CHROMIUM = '/usr/bin/chromium';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'],
  });
}

/** A browser context that authenticates as the test admin on every request, fetches and EventSource included. */
export async function adminContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ extraHTTPHeaders: { authorization: 'Bearer admin-all' } });
}

/** What an admin-center browser test works with: its gateway, Chromium, and a fresh admin context per test. */
export interface AdminBrowserRig {
  readonly gw: TestGateway;
  readonly browser: Browser;
  readonly context: BrowserContext;
}

/**
 * Registers the mocha hooks every admin-center browser test file needs (call it inside `describe`): a gateway with
 * `options` and Chromium for the file, a new admin browser context for each test, everything closed afterwards.
 */
export function useAdminBrowser(options: TestGatewayOptions): AdminBrowserRig {
  let gw: TestGateway | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
    gw = await startTestGateway(options);
    browser = await launch();
  });
  beforeEach(async () => {
    context = await adminContext(browser as Browser);
  });
  afterEach(async () => {
    await context?.close();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started: use the rig inside a test`);
    return value;
  };
  return {
    get gw() {
      return ready(gw, 'the gateway');
    },
    get browser() {
      return ready(browser, 'Chromium');
    },
    get context() {
      return ready(context, 'the browser context');
    },
  };
}

/** Collects console errors (a CSP violation is one) while a page is used. */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

/** Runs axe-core in the page (through DevTools, so the page's CSP stays as strict as in production). */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe;
    const result = await axe.run();
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.targets.join(', ')}`);
}

export interface ProfileJson {
  id: string;
  name: string;
  priority: number;
  version: number;
}

export async function listProfiles(gw: TestGateway): Promise<{ items: ProfileJson[]; version: number }> {
  const res = await gw.fetch('/api/enrollment-profiles', { headers: adminHeaders() });
  expect(res.status).to.equal(200);
  return (await res.json()) as { items: ProfileJson[]; version: number };
}

export async function createProfile(gw: TestGateway, name: string): Promise<ProfileJson> {
  const res = await gw.fetch('/api/enrollment-profiles', {
    method: 'POST',
    headers: adminHeaders(),
    body: JSON.stringify({ name, enrollmentType: 'web-based', assignments: { allUsers: true } }),
  });
  expect(res.status, await res.clone().text()).to.equal(201);
  return (await res.json()) as ProfileJson;
}

/**
 * Enrolls a simulated iPhone for `userId` the way a real one does (an enrollment link from the admin API, the
 * profile, SCEP, Authenticate, TokenUpdate); needs mdm with a push topic. Like an iPhone, it names itself only in
 * answer to DeviceInformation: with `report`, it answers "Refresh information" (DeviceInformation, managed apps,
 * profiles) so its name and inventory are on record.
 */
export async function enrollDevice(
  gw: TestGateway,
  options: DeviceInfoOptions & { userId: string; report?: boolean },
): Promise<{ deviceId: string; device: SimulatedDevice }> {
  const { userId, report, ...info } = options;
  const minted = await gw.fetch('/api/mdm/enrollments', {
    method: 'POST',
    headers: adminHeaders(),
    body: JSON.stringify({ userId }),
  });
  expect(minted.status, await minted.clone().text()).to.equal(201);
  const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: 'https://gateway.test', ...info });
  await device.downloadProfile(((await minted.json()) as { profileUrl: string }).profileUrl);
  await device.enroll();
  const record = await gw.gateway.context('admin-center').resolve(deviceDirectoryRef).getByUdid(device.udid);
  if (!record) throw new Error(`the enrolled device ${device.udid} is not recorded`);
  if (report) {
    const refresh = await gw.fetch(`/api/mdm/devices/${record.id}/refresh`, {
      method: 'POST',
      headers: adminHeaders(),
    });
    expect(refresh.status, await refresh.clone().text()).to.be.oneOf([200, 202]);
    await device.poll();
  }
  return { deviceId: record.id, device };
}

/**
 * The real apns plugin's counterpart: a local APNs stand-in, and a push certificate from its test CA to install
 * through the admin API, so devices can enroll (mdm needs a push topic) and pushes go nowhere real.
 */
export async function apnsStandin() {
  const pki = await createTestPki();
  const dir = mkdtempSync(path.join(tmpdir(), 'admin-center-apns-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, pki.ca.certPem);
  const standin = await ApnsStandin.start({ pki });
  return {
    /** plugins.apns config for the gateway. */
    config: { endpoint: standin.url, caFile },
    async installCertificate(gw: TestGateway): Promise<void> {
      const pair = await pki.issuePushCertificate();
      const res = await gw.fetch('/api/apns/certificate', {
        method: 'POST',
        headers: adminHeaders(),
        body: JSON.stringify({ pem: `${pair.certPem}\n${pair.keyPem}` }),
      });
      expect(res.status, await res.clone().text()).to.equal(201);
    },
    async close(): Promise<void> {
      await standin.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
