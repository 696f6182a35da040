/**
 * The preview's "simulate this device" mode, answered by its https front before anything reaches the gateway:
 * - a browser that is not an iPhone or iPad sees the Company Portal as an iPhone on iOS 17 would (its User-Agent is
 *   replaced on portal pages), so the whole journey works from a desktop;
 * - the Enroll page (company-portal's `previewSimulatePath`) also posts its form to POST /preview/simulate: the front
 *   submits it to the portal with the browser's session, downloads the one-time profile as the iPhone would, hands
 *   the file to a simulated iPhone that enrolls through SCEP and MDM, and sends the browser to the live status page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PreviewFleet } from './devices.js';
import type { PreviewRoute } from './tls.js';

export const SIMULATE_PATH = '/preview/simulate';
const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
/** Everything but the admin center, the APIs and the device endpoints is the portal (or its sign-in). */
const NOT_PORTAL = /^\/(admin|api|mdm|scep|acme|metrics|healthz|readyz)(\/|$|\?)/;

export interface SimulateOptions {
  gatewayUrl: string;
  fleet: () => PreviewFleet | undefined;
  onError: (error: Error) => void;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function previewRoutes(options: SimulateOptions): PreviewRoute {
  let simulated = 0;
  return async (req, res) => {
    if (req.method === 'POST' && req.url === SIMULATE_PATH) {
      await simulate(req, res, options, `Simulated iPhone ${++simulated}`);
      return true;
    }
    const userAgent = req.headers['user-agent'] ?? '';
    if (!/iPhone|iPad/.test(userAgent) && !NOT_PORTAL.test(req.url ?? '/')) req.headers['user-agent'] = IPHONE_SAFARI;
    return false;
  };
}

async function simulate(req: IncomingMessage, res: ServerResponse, options: SimulateOptions, name: string) {
  const fleet = options.fleet();
  if (!fleet) return answer(res, 503, 'the preview is still starting');
  // The browser's session and form, as the iPhone would send them; the front speaks https to the browser.
  const asBrowser = {
    cookie: req.headers.cookie ?? '',
    origin: req.headers.origin ?? '',
    host: req.headers.host ?? '',
    'user-agent': IPHONE_SAFARI,
    'x-forwarded-proto': 'https',
  };
  const download = await fetch(`${options.gatewayUrl}/enroll/download`, {
    method: 'POST',
    headers: { ...asBrowser, 'content-type': req.headers['content-type'] ?? 'application/x-www-form-urlencoded' },
    body: await readBody(req),
    redirect: 'manual',
  });
  const statusPath = download.headers.get('location') ?? '';
  if (download.status !== 303 || !statusPath.startsWith('/enroll/status/')) {
    // Refused (expired form, no profile, a veto): the browser sees the portal's own answer.
    const type = download.headers.get('content-type') ?? 'text/html; charset=utf-8';
    res.writeHead(download.status, { 'content-type': type });
    res.end(Buffer.from(await download.arrayBuffer()));
    return;
  }
  const link = await fetch(`${options.gatewayUrl}${statusPath}/profile`, { headers: asBrowser, redirect: 'manual' });
  const profileUrl = link.headers.get('location');
  if (!profileUrl) return answer(res, 502, 'the portal gave no profile link');
  const profile = await fetch(`${options.gatewayUrl}${new URL(profileUrl, 'https://preview').pathname}`, {
    headers: asBrowser,
  });
  if (!profile.ok) return answer(res, 502, `the profile download answered ${profile.status}`);
  const bytes = Buffer.from(await profile.arrayBuffer());
  // Enrolls while the browser shows the live status page, which follows it to "ready".
  fleet.enrollWithProfile(bytes, name).catch(options.onError);
  res.writeHead(303, { location: statusPath });
  res.end();
}

function answer(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`preview: ${message}`);
}
