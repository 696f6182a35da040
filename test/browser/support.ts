/**
 * What the browser tests share: a TLS proxy in front of the gateway for https://gateway.test (as in production;
 * Chromium reaches it through --host-resolver-rules), and headless Chromium dressed as an iPhone.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { issueTestLeaf } from '../support/test-tls.js';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumAvailable = () => existsSync(CHROMIUM);

export const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
export const IPHONE_IOS14 =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 14_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.1.2 Mobile/15E148 Safari/604.1';

export interface TlsProxy {
  server: Server;
  port: number;
  close(): void;
}

/** TLS termination in front of the gateway, adding X-Forwarded-Proto like the production proxy; streams answers. */
export async function startTlsProxy(target: string): Promise<TlsProxy> {
  const leaf = issueTestLeaf(['gateway.test']);
  const upstream = new URL(target);
  const server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-proto': 'https' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

export function launchChromium(proxyPort: number): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--no-first-run',
      `--host-resolver-rules=MAP gateway.test:443 127.0.0.1:${proxyPort}`,
    ],
  });
}

/** An iPhone-sized context with Safari's User-Agent. Chromium does not read NODE_EXTRA_CA_CERTS, hence the flag. */
export function iphoneContext(browser: Browser, userAgent = IPHONE_SAFARI): Promise<BrowserContext> {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent,
    acceptDownloads: true,
  });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact?: string;
  help: string;
  nodes: { target: string[] }[];
}

/** Runs axe-core (WCAG 2.1 A and AA rules) on the page; returns the violations. */
export async function accessibilityViolations(page: Page): Promise<AxeViolation[]> {
  // page.evaluate goes through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes }));
  });
}
