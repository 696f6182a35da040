/**
 * `npm run preview` as a newcomer would use it, in Chromium: start the preview (its own process, as from a
 * shell), open the admin center, create the first administrator's passkey from the printed invite link (the
 * DevTools virtual authenticator), see the demo devices by name, open the portal as a demo user on an iPhone, download
 * the enrollment profile and enroll it with a simulated iPhone, and find that device in the admin center; then, from a
 * desktop browser, "Simulate this device" on the Enroll page; then stop the preview with SIGINT. Screenshots go to docs/screenshots/preview-*.png (used by the README).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { type Browser, chromium, type Page } from 'playwright-core';
import { freePort } from '../../scripts/lib/local-services.js';
import { SimulatedDevice } from '../support/device-simulator.js';
import { IPHONE_SAFARI } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../', import.meta.url));
// Like the portal journey: the README's screenshots change only when asked (UPDATE_SCREENSHOTS=1), never by a test run.
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.join(root, 'docs', 'screenshots')
  : mkdtempSync(path.join(tmpdir(), 'preview-screens-'));

interface PreviewInfo {
  adminUrl: string;
  portalUrl: string;
  inviteLink: string;
  caFile: string;
  users: { email: string }[];
  spki: string;
}

function startPreview(port: number): Promise<{ child: ChildProcess; info: PreviewInfo; output: () => string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'scripts/preview.ts', '--port', String(port), '--devices', '2'],
    { cwd: root, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the preview did not start in 60 s:\n${output}`)), 60_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.startsWith('{"adminUrl"'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, info: JSON.parse(line) as PreviewInfo, output: () => output });
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.on('exit', (code) => reject(new Error(`the preview exited with ${code}:\n${output}`)));
  });
}

async function addVirtualAuthenticator(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}

describe('npm run preview, as a newcomer in Chromium', function () {
  this.timeout(120_000);
  let preview: Awaited<ReturnType<typeof startPreview>>;
  let browser: Browser;
  /** The admin center, signed in with the passkey the first test creates. */
  let adminPage: Page | undefined;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`browser tests need Chromium at ${CHROMIUM}`);
    preview = await startPreview(await freePort());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-gpu',
        '--no-first-run',
        // Trust the preview's certificate as a user who accepted it would (WebAuthn refuses pages with TLS errors).
        `--ignore-certificate-errors-spki-list=${preview.info.spki}`,
      ],
    });
  });
  after(async () => {
    await browser?.close();
    if (preview?.child.exitCode === null) preview.child.kill('SIGKILL');
  });

  it('admin center with a passkey, demo devices, portal as a demo user, a simulated iPhone enrolled and found', async () => {
    const { info } = preview;
    const origin = new URL(info.adminUrl).origin;
    const admin = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await admin.newPage();
    await addVirtualAuthenticator(page);

    // /admin without a session: a sign-in page offering a passkey and the organization's sign-in.
    await page.goto(info.adminUrl);
    expect(page.url()).to.match(/\/admin\/sign-in\?returnTo=/);
    await page.getByRole('link', { name: 'Sign in with a passkey' }).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'preview-sign-in.png') });

    await page.goto(info.inviteLink);
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/admin/') && !url.pathname.startsWith('/admin-auth'));
    await page.goto(`${origin}/admin/devices`);
    expect(await page.locator('[data-signed-in-as]').textContent()).to.equal('admin@demo.test');
    const list = page.locator('main');
    await list.getByText('iPhone 15 (demo 1)').waitFor();
    expect(await list.textContent())
      .to.include('iPhone15,4')
      .and.include('iPhone 15 Pro Max (demo 2)');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'preview-devices.png'), fullPage: true });

    // The portal as Alex on an iPhone: sign in at the demo provider, download the profile.
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      userAgent: IPHONE_SAFARI,
      acceptDownloads: true,
      // The demo sign-in provider has its own certificate from the preview CA.
      ignoreHTTPSErrors: true,
    });
    const portal = await phone.newPage();
    await portal.goto(info.portalUrl);
    await portal.click('a.button');
    await portal.fill('input[name=username]', 'alex@demo.test');
    await Promise.all([portal.waitForURL(info.portalUrl), portal.click('button[type=submit]')]);
    await portal.screenshot({ path: path.join(SCREENSHOTS, 'preview-portal.png') });
    const [download] = await Promise.all([
      portal.waitForEvent('download'),
      portal.click('button:has-text("Download management profile")'),
    ]);
    const bytes = readFileSync((await download.path()) as string);

    // "This iPhone" is simulated: it installs exactly that file and enrolls through SCEP and MDM.
    const iphone = await SimulatedDevice.create({
      baseUrl: origin,
      publicUrl: origin,
      deviceName: "Alex's simulated iPhone",
      // The device trusts the preview's CA, as an enrolled iPhone trusts the organisation's.
      agents: { https: new Agent({ ca: readFileSync(info.caFile, 'utf8') }) },
    });
    iphone.installProfileFile(bytes);
    await iphone.enroll();
    await iphone.poll();
    await portal.waitForSelector('[data-live] [data-state]');

    // It checks in like a phone would; the preview asks new devices for their name, which it tells at a check-in.
    let found = false;
    for (let round = 0; round < 20 && !found; round++) {
      await iphone.poll();
      await page.goto(`${origin}/admin/devices`);
      found = ((await page.locator('main').textContent()) ?? '').includes("Alex's simulated iPhone");
      if (!found) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect(found, 'the enrolled iPhone appears in the admin center by its name').to.equal(true);
    await phone.close();
    adminPage = page;
  });

  it('"Simulate this device" in a desktop browser: a simulated iPhone enrolls, the status goes live to ready, and the admin center lists it', async () => {
    const { info } = preview;
    if (!adminPage) return expect.fail('the admin center session of the previous test is missing');
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true });
    const portal = await desktop.newPage();
    await portal.goto(info.portalUrl);
    await portal.click('a.button');
    await portal.fill('input[name=username]', 'sam@demo.test');
    await Promise.all([portal.waitForURL(info.portalUrl), portal.click('button[type=submit]')]);
    // A desktop browser gets the Enroll page (not "not supported") with the preview's button.
    const simulate = portal.getByRole('button', { name: 'Simulate this device' });
    await simulate.waitFor();
    await portal.screenshot({ path: path.join(SCREENSHOTS, 'preview-simulate.png'), fullPage: true });
    await Promise.all([portal.waitForURL(/\/enroll\/status\//), simulate.click()]);
    await portal.waitForSelector('[data-live] [data-state="ready"]', { timeout: 30_000 });

    // The preview asks new devices for their name; it arrives with a check-in (every 5 s).
    const origin = new URL(info.adminUrl).origin;
    let found = false;
    for (let round = 0; round < 30 && !found; round++) {
      await adminPage.goto(`${origin}/admin/devices`);
      found = ((await adminPage.locator('main').textContent()) ?? '').includes('Simulated iPhone 1');
      if (!found) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect(found, 'the simulated iPhone appears in the admin center by its name').to.equal(true);
    await desktop.close();
  });

  it('stops cleanly on Ctrl-C', async () => {
    await adminPage?.context().close();
    preview.child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => preview.child.on('exit', (c) => resolve(c)));
    expect(code, preview.output()).to.equal(0);
  });
});
