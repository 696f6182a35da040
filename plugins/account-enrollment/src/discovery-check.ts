import type { DiscoveryDocument } from './discovery.js';

/** What the admin center shows for one domain: does Settings find this gateway there? */
export interface DiscoveryCheck {
  domain: string;
  url: string;
  ok: boolean;
  /** HTTP status of the last answer, when there was one. */
  status?: number;
  /** Why it is not ok, in words an admin can act on. */
  problem?: string;
}

const WELL_KNOWN = '/.well-known/com.apple.remotemanagement';
const TIMEOUT_MS = 5_000;

function sameServers(found: unknown, expected: DiscoveryDocument): boolean {
  const servers = (found as Partial<DiscoveryDocument> | null)?.Servers;
  if (!Array.isArray(servers)) return false;
  return expected.Servers.every((want) =>
    servers.some((s) => s?.Version === want.Version && s?.BaseURL === want.BaseURL),
  );
}

/**
 * Fetches https://<domain>/.well-known/com.apple.remotemanagement as a device would (redirects followed, https
 * only) and compares it with this gateway's document. `domain` may carry a port (a test or a staging proxy).
 * A host that is not one of the configured domains is asked without a user-identifier.
 */
export async function checkDiscovery(
  domain: string,
  expected: DiscoveryDocument,
  options: { asAccountOf?: string } = {},
): Promise<DiscoveryCheck> {
  // A configured domain is asked as a device of its accounts asks (the gateway then checks the domain too).
  const query = options.asAccountOf
    ? `?user-identifier=${encodeURIComponent(`discovery-check@${options.asAccountOf}`)}`
    : '';
  const url = `https://${domain}${WELL_KNOWN}${query}`;
  const shown = `https://${domain}${WELL_KNOWN}`;
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    return { domain, url: shown, ok: false, problem: `no answer from ${domain} (${cause})` };
  }
  if (!res.url.startsWith('https://')) {
    return {
      domain,
      url: shown,
      ok: false,
      status: res.status,
      problem: 'the answer came over plain http: devices need https',
    };
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    return {
      domain,
      url: shown,
      ok: false,
      status: res.status,
      problem: `answered ${res.status}: add the redirect or proxy rule`,
    };
  }
  const type = res.headers.get('content-type') ?? '';
  const body = type.startsWith('application/json') ? await res.json().catch(() => undefined) : undefined;
  if (!body)
    return { domain, url: shown, ok: false, status: 200, problem: `answered ${type || 'no content type'}, not JSON` };
  if (!sameServers(body, expected)) {
    return {
      domain,
      url: shown,
      ok: false,
      status: 200,
      problem: 'answered a document that does not name this gateway',
    };
  }
  return { domain, url: shown, ok: true, status: 200 };
}
