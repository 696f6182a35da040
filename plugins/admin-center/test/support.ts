import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { adminHeaders } from '../../../test/support/fixture-plugins.js';
import type { TestGateway } from '../../../test/support/gateway.js';

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

/** A device record as the mdm plugin stores it, written directly: the UI test needs one, not an enrollment. */
export async function insertDevice(gw: TestGateway, fields: Record<string, unknown>): Promise<string> {
  const conn = await mongoose.createConnection(gw.mongodbUri).asPromise();
  try {
    const _id = new mongoose.Types.ObjectId();
    const now = new Date();
    await conn.collection('mdm_devices').insertOne({
      _id,
      udid: randomUUID().toUpperCase(),
      state: 'enrolled',
      identityFingerprints: [],
      managedApps: [],
      installedProfiles: [],
      createdAt: now,
      updatedAt: now,
      ...fields,
    });
    return String(_id);
  } finally {
    await conn.close();
  }
}
