/**
 * A stand-in for Microsoft Entra ID in the test process: a real OpenID Provider (the `oidc-provider`
 * package) over https on loopback, shaped like Entra (issuer https://host/<tenant>/v2.0, id tokens with
 * `typ: JWT`, oid/tid/groups/roles claims, groups overage), plus a small Microsoft Graph stand-in that
 * only answers app-only (client-credentials) tokens the provider issued.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { issueTestLeaf } from './test-tls.js';

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export interface StandinAccount {
  /** Entra object id (the `oid` claim). */
  oid: string;
  upn: string;
  name: string;
  /** Defaults to the stand-in's tenant. */
  tid?: string;
  /** Put in the `groups` claim, unless `overage` moves them behind Graph. */
  groups?: string[];
  roles?: string[];
  /** Too many groups: the token carries `_claim_names`/`_claim_sources` and Graph answers with `groups`. */
  overage?: boolean;
  /** Leave the groups claim out entirely (an app registration without the groups claim configured). */
  omitGroups?: boolean;
}

export type JwtHeader = Record<string, unknown>;
export type JwtClaims = Record<string, unknown>;

/** Changes the next id token the token endpoint returns (wrong audience, other tenant, expired, tampered). */
export type IdTokenMutation = (claims: JwtClaims, header: JwtHeader) => { claims: JwtClaims; tamper?: boolean };

export interface StandinOptions {
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  redirectUris: string[];
}

export interface GraphCall {
  userId: string;
  authorized: boolean;
}

const b64url = (input: Buffer | string) => Buffer.from(input).toString('base64url');

export class OidcStandin {
  readonly graphCalls: GraphCall[] = [];
  /** The tenant's groups for Graph's /groups ($search and $filter=id in): object id → displayName. */
  readonly directoryGroups = new Map<string, string>();
  /** getMemberGroups for these object ids answers with this status instead (429 throttled, 503, 404 …). */
  readonly graphRefusals = new Map<string, number>();
  /** Object id of the account the interaction signs in without a form; undefined shows the login form. */
  autoLogin: string | undefined;
  /** Applied once to the next id token the token endpoint hands out. */
  nextIdTokenMutation: IdTokenMutation | undefined;

  private constructor(
    readonly accounts: Map<string, StandinAccount>,
    private readonly server: Server,
    readonly provider: Provider,
    private readonly signingKey: KeyObject,
    readonly kid: string,
    readonly origin: string,
    readonly tenantId: string,
    readonly clientId: string,
    readonly clientSecret: string,
  ) {}

  get issuer(): string {
    return this.issuerFor(this.tenantId);
  }

  /** The identity-entra plugin settings that point at this stand-in (a fresh session secret each call). */
  entraConfig() {
    return {
      tenantId: this.tenantId,
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      authority: this.authority,
      graphUrl: this.graphUrl,
      graphScope: GRAPH_SCOPE,
      sessionSecrets: [randomUUID() + randomUUID()],
    };
  }
  issuerFor(tenantId: string): string {
    return `${this.origin}/${tenantId}/v2.0`;
  }
  /** What Entra calls the authority: identityMetadata = <authority>/<tenant>/v2.0/.well-known/openid-configuration. */
  get authority(): string {
    return this.origin;
  }
  get metadataUrl(): string {
    return `${this.issuer}/.well-known/openid-configuration`;
  }
  get graphUrl(): string {
    return `${this.origin}/graph`;
  }

  static async start(options: StandinOptions): Promise<OidcStandin> {
    const tenantId = options.tenantId ?? randomUUID();
    const clientId = options.clientId ?? randomUUID();
    const clientSecret = options.clientSecret ?? randomUUID();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = createHash('sha256').update(randomUUID()).digest('base64url').slice(0, 16);
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
    const leaf = issueTestLeaf(['127.0.0.1', 'localhost']);

    let standin: OidcStandin | undefined;
    const server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
      if (!standin) {
        res.statusCode = 503;
        res.end();
        return;
      }
      standin.handle(req, res).catch((error: Error) => {
        res.statusCode = 500;
        res.end(error.message);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const accounts = new Map<string, StandinAccount>();

    const configuration: Configuration = {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: options.redirectUris,
          response_types: ['code'],
          grant_types: ['authorization_code', 'client_credentials'],
          token_endpoint_auth_method: 'client_secret_post',
          scope: `openid profile email offline_access ${GRAPH_SCOPE}`,
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: [randomUUID()] },
      scopes: ['openid', 'profile', 'email', 'offline_access', GRAPH_SCOPE],
      claims: {
        openid: [
          'sub',
          'oid',
          'tid',
          'preferred_username',
          'name',
          'groups',
          'roles',
          '_claim_names',
          '_claim_sources',
        ],
        profile: ['name', 'preferred_username'],
      },
      conformIdTokenClaims: false,
      pkce: { required: () => false },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: { enabled: false },
      },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      // A first-party app: consent is implied, as with an admin-consented Entra app registration.
      async loadExistingGrant(ctx: KoaContextWithOIDC) {
        const accountId = ctx.oidc.session?.accountId;
        const client = ctx.oidc.client;
        if (!accountId || !client) return undefined;
        const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId });
        grant.addOIDCScope([...(ctx.oidc.requestParamScopes ?? new Set(['openid']))].join(' '));
        await grant.save();
        return grant;
      },
      async findAccount(_ctx, sub) {
        const account = accounts.get(sub);
        if (!account) return undefined;
        return {
          accountId: sub,
          async claims() {
            const tid = account.tid ?? tenantId;
            const claims: Record<string, unknown> = {
              sub: `pairwise-${account.oid}`,
              oid: account.oid,
              tid,
              preferred_username: account.upn,
              name: account.name,
              roles: account.roles ?? [],
            };
            if (account.overage) {
              claims._claim_names = { groups: 'src1' };
              claims._claim_sources = {
                src1: { endpoint: `https://graph.windows.net/${tid}/users/${account.oid}/getMemberObjects` },
              };
            } else if (!account.omitGroups) {
              claims.groups = account.groups ?? [];
            }
            return claims;
          },
        };
      },
      ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, ClientCredentials: 600, Interaction: 600 },
    };
    const provider = new Provider(`${origin}/${tenantId}/v2.0`, configuration);
    standin = new OidcStandin(accounts, server, provider, privateKey, kid, origin, tenantId, clientId, clientSecret);
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path.endsWith('/token') && ctx.status === 200) standin?.rewriteTokenResponse(ctx);
    });
    return standin;
  }

  addAccount(account: StandinAccount): StandinAccount {
    this.accounts.set(account.oid, account);
    return account;
  }

  /** Signs a JWT with the provider's own key, as Entra signs tokens (RS256, `typ: JWT`, `kid`). */
  signJwt(claims: JwtClaims, header: JwtHeader = {}): string {
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: this.kid, ...header }));
    const body = b64url(JSON.stringify(claims));
    const signature = sign('sha256', Buffer.from(`${head}.${body}`), this.signingKey).toString('base64url');
    return `${head}.${body}.${signature}`;
  }

  /**
   * An access token for an API (what a daemon gets from Entra with client credentials or on behalf of a user).
   * `overrides` replace claims; `lifetimeSeconds` < 0 gives an expired token.
   */
  issueAccessToken(options: {
    audience: string;
    account?: StandinAccount;
    tenantId?: string;
    roles?: string[];
    lifetimeSeconds?: number;
    overrides?: JwtClaims;
  }): string {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = options.lifetimeSeconds ?? 600;
    const tenantId = options.tenantId ?? options.account?.tid ?? this.tenantId;
    const claims: JwtClaims = {
      aud: options.audience,
      iss: this.issuerFor(tenantId),
      iat: Math.min(now, now + lifetime - 60),
      nbf: Math.min(now, now + lifetime - 60),
      exp: now + lifetime,
      sub: options.account ? `pairwise-${options.account.oid}` : `app-${this.clientId}`,
      oid: options.account?.oid ?? randomUUID(),
      tid: tenantId,
      azp: this.clientId,
      ver: '2.0',
      roles: options.roles ?? options.account?.roles ?? [],
      ...(options.account ? { preferred_username: options.account.upn, name: options.account.name } : {}),
      ...options.overrides,
    };
    return this.signJwt(claims);
  }

  /** Flips one character of the payload so the signature no longer matches. */
  static tamper(token: string): string {
    const [head, body, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as JwtClaims;
    claims.roles = ['Gateway.Admin'];
    return `${head}.${b64url(JSON.stringify(claims))}.${signature}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Re-signs the id token with Entra's header (`typ: JWT`), applying a pending test mutation. */
  private rewriteTokenResponse(ctx: KoaContextWithOIDC): void {
    const body = ctx.body as { id_token?: string } | undefined;
    if (!body?.id_token) return;
    const [head, payload] = body.id_token.split('.');
    const header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as JwtHeader;
    let claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JwtClaims;
    let tamper = false;
    const mutation = this.nextIdTokenMutation;
    this.nextIdTokenMutation = undefined;
    if (mutation) ({ claims, tamper = false } = mutation(claims, header));
    const token = this.signJwt(claims, { kid: header.kid ?? this.kid });
    body.id_token = tamper ? OidcStandin.tamper(token) : token;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    if (url.pathname.startsWith('/interaction/')) return this.interaction(req, res, url);
    if (url.pathname.startsWith('/graph/')) return this.graph(req, res, url);
    // The provider lives under its issuer path; it derives its mount path from originalUrl minus url.
    const mount = `/${this.tenantId}/v2.0`;
    if (url.pathname === mount || url.pathname.startsWith(`${mount}/`)) {
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
      req.url = req.url?.slice(mount.length) || '/';
      return this.provider.callback()(req, res);
    }
    res.statusCode = 404;
    res.end('not found');
  }

  /** Signs in `autoLogin` straight away, or shows a one-field form a browser can submit. */
  private async interaction(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const details = await this.provider.interactionDetails(req, res);
    if (details.prompt.name !== 'login') {
      await this.provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
      return;
    }
    let accountId = this.autoLogin;
    if (req.method === 'POST' && url.pathname.endsWith('/login')) {
      const form = new URLSearchParams(await readBody(req));
      const upn = form.get('username')?.toLowerCase();
      accountId = [...this.accounts.values()].find((a) => a.upn.toLowerCase() === upn)?.oid;
      if (!accountId) {
        await this.provider.interactionFinished(req, res, {
          error: 'access_denied',
          error_description: 'unknown user',
        });
        return;
      }
    }
    if (accountId) {
      await this.provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
      return;
    }
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(
      `<!doctype html><title>Sign in</title><form method="post" action="/interaction/${details.uid}/login">` +
        `<label>Email <input name="username" type="email" autocomplete="username"></label>` +
        `<button type="submit">Sign in</button></form>`,
    );
  }

  /**
   * POST /graph/v1.0/users/{id}/getMemberGroups, GET /graph/v1.0/groups?$search="displayName:…" (400 without
   * ConsistencyLevel: eventual, as Graph answers) or ?$filter=id in ('…',…) (at most 15), each with an app-only
   * token from this provider.
   */
  private async graph(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ? await this.provider.ClientCredentials.find(bearer) : undefined;
    const authorized = Boolean(
      token && token.clientId === this.clientId && token.scope?.split(' ').includes(GRAPH_SCOPE),
    );
    const unauthorized = () =>
      reply(401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is invalid' } });
    if (url.pathname === '/graph/v1.0/groups' && req.method === 'GET') {
      if (!authorized) return unauthorized();
      return reply(...this.groupsQuery(req, url));
    }
    const match = /^\/graph\/v1\.0\/users\/([^/]+)\/getMemberGroups$/.exec(url.pathname);
    if (!match || req.method !== 'POST') return reply(404, { error: { code: 'Request_ResourceNotFound' } });
    const userId = decodeURIComponent(match[1]);
    this.graphCalls.push({ userId, authorized });
    if (!authorized) return unauthorized();
    await readBody(req);
    const refusal = this.graphRefusals.get(userId);
    if (refusal) return reply(refusal, { error: { code: refusal === 429 ? 'TooManyRequests' : 'Refused' } });
    const account = this.accounts.get(userId);
    if (!account) return reply(404, { error: { code: 'Request_ResourceNotFound' } });
    return reply(200, { value: account.groups ?? [] });
  }

  /** What Graph's GET /groups answers: [status, body]. */
  private groupsQuery(req: IncomingMessage, url: URL): [number, unknown] {
    if (url.searchParams.has('$search') && req.headers.consistencylevel !== 'eventual') {
      const message = "$search needs the header 'ConsistencyLevel: eventual'";
      return [400, { error: { code: 'Request_UnsupportedQuery', message } }];
    }
    const filter = /^id in \((.*)\)$/.exec(url.searchParams.get('$filter') ?? '');
    if (filter) {
      const ids = filter[1].split(',').map((v) => v.trim().replace(/^'(.*)'$/, '$1'));
      if (ids.length > 15) return [400, { error: { code: 'Request_UnsupportedQuery', message: 'too many values' } }];
      return [200, { value: ids.filter((id) => this.directoryGroups.has(id)).map((id) => ({ id })) }];
    }
    const search = /^"displayName:(.*)"$/.exec(url.searchParams.get('$search') ?? '');
    if (!search) return [400, { error: { code: 'Request_BadRequest', message: 'Invalid $search' } }];
    const words = search[1].replace(/\\(.)/g, '$1').toLowerCase();
    const top = Number(url.searchParams.get('$top') ?? 100);
    const value = [...this.directoryGroups]
      .filter(([, name]) => name.toLowerCase().includes(words))
      .slice(0, top)
      .map(([id, displayName]) => ({ id, displayName }));
    return [200, { value }];
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
