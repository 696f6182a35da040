import { GatewayError } from 'enrollment-gateway/sdk';

/** Where a user's groups come from when the token could not carry them all (groups overage). */
export interface GroupSource {
  memberGroups(userObjectId: string): Promise<string[]>;
}

/** The tenant's groups, for pickers and for confirming ids no signed-in user has brought yet. */
export interface GroupDirectory {
  searchGroups(query: string, limit: number): Promise<{ id: string; displayName: string }[]>;
  existingGroups(groupIds: readonly string[]): Promise<Set<string>>;
}

export class GraphError extends GatewayError {
  /** Graph's HTTP status, when Graph answered (404: no such user; 429: throttled). */
  readonly status?: number;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super('graph_failed', message, options);
    if (options?.status !== undefined) this.status = options.status;
  }
}

interface AppToken {
  value: string;
  expiresAt: number;
}

/**
 * Microsoft Graph with the app's own credentials (client-credentials grant): POST
 * /v1.0/users/{id}/getMemberGroups, which returns every group id, transitive ones included; GET /v1.0/groups with
 * `$search` (an advanced query: needs `ConsistencyLevel: eventual`) and `$filter=id in (…)` for
 * the group pickers: all within GroupMember.Read.All.
 */
export class GraphGroupSource implements GroupSource, GroupDirectory {
  private token: AppToken | undefined;
  private tokenEndpoint: string | undefined;

  constructor(
    private readonly options: {
      metadataUrl: string;
      graphUrl: string;
      scope: string;
      clientId: string;
      clientSecret: string;
    },
  ) {}

  async memberGroups(userObjectId: string): Promise<string[]> {
    const groups: string[] = [];
    let url: string | undefined =
      `${this.options.graphUrl.replace(/\/$/, '')}/v1.0/users/${encodeURIComponent(userObjectId)}/getMemberGroups`;
    let body: string | undefined = JSON.stringify({ securityEnabledOnly: false });
    while (url) {
      const response: Response = await fetch(url, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${await this.appToken()}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok)
        throw new GraphError(`Graph getMemberGroups answered ${response.status}`, { status: response.status });
      const page = (await response.json()) as { value?: unknown; '@odata.nextLink'?: string };
      if (!Array.isArray(page.value)) throw new GraphError('Graph getMemberGroups returned no value array');
      groups.push(...page.value.filter((g): g is string => typeof g === 'string'));
      url = page['@odata.nextLink'];
      body = undefined;
    }
    return groups;
  }

  async searchGroups(query: string, limit: number): Promise<{ id: string; displayName: string }[]> {
    const url = new URL(`${this.base()}/v1.0/groups`);
    // $search takes "property:words" in double quotes; a quote or backslash inside is escaped with a backslash.
    url.searchParams.set('$search', `"displayName:${query.replace(/["\\]/g, (c) => `\\${c}`)}"`);
    url.searchParams.set('$select', 'id,displayName');
    url.searchParams.set('$top', String(limit));
    const page = await this.json(url.href, 'GET', undefined, { ConsistencyLevel: 'eventual' });
    return page
      .filter((g): g is { id: string; displayName?: unknown } => typeof (g as { id?: unknown })?.id === 'string')
      .map((g) => ({ id: g.id, displayName: typeof g.displayName === 'string' ? g.displayName : g.id }))
      .slice(0, limit);
  }

  async existingGroups(groupIds: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    // `id in (...)` takes at most 15 values; an id that is no GUID cannot name an Entra group, so it is never sent.
    const ids = groupIds.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id));
    for (let i = 0; i < ids.length; i += 15) {
      const url = new URL(`${this.base()}/v1.0/groups`);
      url.searchParams.set(
        '$filter',
        `id in (${ids
          .slice(i, i + 15)
          .map((id) => `'${id}'`)
          .join(',')})`,
      );
      url.searchParams.set('$select', 'id');
      const page = await this.json(url.href, 'GET');
      for (const g of page) if (typeof (g as { id?: unknown })?.id === 'string') found.add((g as { id: string }).id);
    }
    return found;
  }

  private base(): string {
    return this.options.graphUrl.replace(/\/$/, '');
  }

  /** One Graph call answering `{ value: [...] }`. */
  private async json(url: string, method: 'GET' | 'POST', body?: string, headers: Record<string, string> = {}) {
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${await this.appToken()}`, 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new GraphError(`Graph ${new URL(url).pathname} answered ${response.status}`);
    const page = (await response.json()) as { value?: unknown };
    if (!Array.isArray(page.value)) throw new GraphError(`Graph ${new URL(url).pathname} returned no value array`);
    return page.value as unknown[];
  }

  private async appToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now() + 60_000) return this.token.value;
    this.tokenEndpoint ??= await this.discoverTokenEndpoint();
    const response = await fetch(this.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: this.options.clientId,
        client_secret: this.options.clientSecret,
        scope: this.options.scope,
      }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new GraphError(`token endpoint refused the app credentials (${response.status})`);
    const token = (await response.json()) as { access_token?: string; expires_in?: number };
    if (!token.access_token) throw new GraphError('token endpoint returned no access_token');
    this.token = { value: token.access_token, expiresAt: Date.now() + (token.expires_in ?? 300) * 1000 };
    return token.access_token;
  }

  private async discoverTokenEndpoint(): Promise<string> {
    const response = await fetch(this.options.metadataUrl, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new GraphError(`metadata answered ${response.status}`);
    const metadata = (await response.json()) as { token_endpoint?: string };
    if (!metadata.token_endpoint?.startsWith('https://')) throw new GraphError('metadata has no https token_endpoint');
    return metadata.token_endpoint;
  }
}
