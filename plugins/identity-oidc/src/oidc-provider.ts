import {
  type IdentityProvider,
  type IdentityRefusal,
  IdentityRefusedError,
  type SignInRequest,
  type SignInStore,
  type VerifiedIdentity,
} from 'enrollment-gateway/sdk';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { identityFromClaims } from './claims.js';
import type { OidcConfig } from './config.js';

/** Where pending sign-ins live in the session: state → what the callback must match. */
const PENDING_KEY = 'oidcPending';
/** Sign-ins started in other tabs stay valid; the oldest go first beyond this. */
const MAX_PENDING = 5;
const PENDING_MS = 10 * 60_000;

interface PendingSignIn {
  nonce: string;
  codeVerifier: string;
  startedAt: number;
}

/** The library's messages mapped to what the user and the audit log are told. */
export function refusalFor(message: string): IdentityRefusal {
  if (/"state"|state mismatch/i.test(message)) return 'invalid_state';
  if (/signature/i.test(message)) return 'tampered_token';
  if (/"aud"|audience|azp/i.test(message)) return 'wrong_audience';
  if (/"iss"|issuer/i.test(message)) return 'wrong_tenant';
  if (/"exp"|expired|"nbf"|"iat"/i.test(message)) return 'expired_token';
  if (/"nonce"/i.test(message)) return 'invalid_token';
  return 'provider_error';
}

function messageOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.join(': ') || String(error);
}

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function pendingOf(store: SignInStore): Record<string, PendingSignIn> {
  const value = store[PENDING_KEY];
  return typeof value === 'object' && value !== null ? (value as Record<string, PendingSignIn>) : {};
}

/**
 * Any OpenID Connect provider through openid-client: discovery, authorization code with PKCE (S256), state and
 * nonce kept in the server-side session, id token signature and claims validated, groups and roles read from the
 * configured claims. Bearer access tokens (JWT) are verified against the provider's published keys.
 */
export class OidcIdentityProvider implements IdentityProvider {
  readonly name = 'oidc';
  private discovered: Promise<client.Configuration> | undefined;
  private readonly redirectUri: string;

  constructor(
    private readonly config: OidcConfig,
    publicUrl: string,
  ) {
    this.redirectUri = `${publicUrl}/auth/callback`;
  }

  /** Discovery once per process; a failure is retried on the next sign-in rather than cached. */
  private configuration(): Promise<client.Configuration> {
    this.discovered ??= this.discover().catch((error: unknown) => {
      this.discovered = undefined;
      throw new IdentityRefusedError('provider_error', `discovery failed: ${messageOf(error)}`);
    });
    return this.discovered;
  }

  private async discover(): Promise<client.Configuration> {
    const { issuer, clientId, clientSecret, tokenEndpointAuthMethod } = this.config;
    const auth =
      tokenEndpointAuthMethod === 'client_secret_post'
        ? client.ClientSecretPost(clientSecret)
        : client.ClientSecretBasic(clientSecret);
    const configuration = await client.discovery(new URL(issuer), clientId, undefined, auth);
    // Also verify the id token's signature (the spec allows trusting TLS instead; we do not).
    client.enableNonRepudiationChecks(configuration);
    return configuration;
  }

  async beginSignIn(request: SignInRequest): Promise<{ redirectUrl: string }> {
    const configuration = await this.configuration();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const codeVerifier = client.randomPKCECodeVerifier();
    const now = Date.now();
    const kept = Object.entries(pendingOf(request.store))
      .filter(([, pending]) => now - pending.startedAt < PENDING_MS)
      .sort(([, a], [, b]) => b.startedAt - a.startedAt)
      .slice(0, MAX_PENDING - 1);
    request.store[PENDING_KEY] = Object.fromEntries([...kept, [state, { nonce, codeVerifier, startedAt: now }]]);
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUri,
      scope: this.config.scopes.join(' '),
      response_type: 'code',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { redirectUrl: url.toString() };
  }

  async completeSignIn(request: SignInRequest): Promise<VerifiedIdentity> {
    const state = first(request.query.state);
    const all = pendingOf(request.store);
    const pending = state ? all[state] : undefined;
    if (!state || !pending || Date.now() - pending.startedAt >= PENDING_MS) {
      throw new IdentityRefusedError('invalid_state', 'no sign-in of this browser has that state');
    }
    // Single use: the state is gone before the code is redeemed, whatever happens next.
    const { [state]: _used, ...rest } = all;
    request.store[PENDING_KEY] = rest;
    const error = first(request.query.error);
    if (error) {
      throw new IdentityRefusedError('provider_error', `${error}: ${first(request.query.error_description) ?? ''}`);
    }
    const configuration = await this.configuration();
    const callback = new URL(this.redirectUri);
    for (const [key, value] of Object.entries(request.query)) {
      const one = first(value);
      if (one !== undefined) callback.searchParams.set(key, one);
    }
    let claims: Record<string, unknown> | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callback, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (caught) {
      const message = messageOf(caught);
      throw new IdentityRefusedError(refusalFor(message), message);
    }
    if (!claims) throw new IdentityRefusedError('invalid_token', 'the token response has no id token');
    return identityFromClaims(claims, this.config, { requireGroups: this.config.requireGroupsClaim });
  }

  async verifyAccessToken(request: Pick<SignInRequest, 'headers' | 'query'>): Promise<VerifiedIdentity> {
    const token = /^Bearer\s+(\S+)$/i.exec(first(request.headers.authorization) ?? '')?.[1];
    if (!token) throw new IdentityRefusedError('invalid_token', 'no bearer token');
    const metadata = (await this.configuration()).serverMetadata();
    if (!metadata.jwks_uri) throw new IdentityRefusedError('provider_error', 'the provider publishes no jwks_uri');
    const audiences = this.config.apiAudiences.length > 0 ? this.config.apiAudiences : [this.config.clientId];
    try {
      const { payload } = await jwtVerify(token, this.keys(metadata.jwks_uri), {
        issuer: metadata.issuer,
        audience: audiences,
      });
      return identityFromClaims(payload, this.config, { requireGroups: false });
    } catch (caught) {
      if (caught instanceof IdentityRefusedError) throw caught;
      const message = messageOf(caught);
      throw new IdentityRefusedError(refusalFor(message), message);
    }
  }

  private jwks: { uri: string; keys: ReturnType<typeof createRemoteJWKSet> } | undefined;
  private keys(uri: string): ReturnType<typeof createRemoteJWKSet> {
    if (this.jwks?.uri !== uri) this.jwks = { uri, keys: createRemoteJWKSet(new URL(uri)) };
    return this.jwks.keys;
  }
}
