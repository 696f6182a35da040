import type Koa from 'koa';
import { GatewayError } from '../errors.js';
import { createExtensionPoint, createServiceRef } from '../refs.js';

/** Who signed in, as an identity provider vouches for them after validating its token. */
export interface VerifiedIdentity {
  /** Stable, provider-unique user id (Entra: the `oid` claim). */
  subject: string;
  /** Sign-in name (Entra: `preferred_username`, the UPN). */
  username: string;
  displayName: string;
  tenantId?: string;
  /** Group ids from the token, or fetched from the directory when the token could not carry them all. */
  groups: readonly string[];
  /** App roles assigned to the user or application. */
  roles: readonly string[];
}

/**
 * Per-browser storage a provider may use between starting and completing a sign-in (state, nonce).
 * It is the server-side session; values must be JSON.
 */
export type SignInStore = Record<string, unknown>;

/** The parts of a browser request a provider reads; independent of the HTTP framework. */
export interface SignInRequest {
  query: Readonly<Record<string, string | string[] | undefined>>;
  /** A parsed form body (response_mode=form_post), when there is one. */
  body?: Readonly<Record<string, string>>;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  store: SignInStore;
}

/** Why a sign-in or token was refused; shown to the user as a short explanation and audit-logged. */
export type IdentityRefusal =
  | 'invalid_state'
  | 'invalid_token'
  | 'tampered_token'
  | 'expired_token'
  | 'wrong_audience'
  | 'wrong_tenant'
  | 'missing_groups'
  | 'provider_error'
  | 'user_disabled';

/** A provider refused a sign-in or a token; `detail` is for logs, never for the user. */
export class IdentityRefusedError extends GatewayError {
  constructor(
    readonly refusal: IdentityRefusal,
    readonly detail: string,
    readonly subject?: string,
  ) {
    super(`identity_${refusal}`, `${refusal}: ${detail}`);
  }
}

/**
 * An identity provider (Microsoft Entra ID today; a generic OpenID Connect one later). The session,
 * user directory and admin access code only talk to this interface, never to a provider library.
 */
export interface IdentityProvider {
  readonly name: string;
  /** Starts an authorization-code sign-in; returns where to send the browser. */
  beginSignIn(request: SignInRequest): Promise<{ redirectUrl: string }>;
  /** Completes it at the redirect URI; throws IdentityRefusedError when anything is wrong. */
  completeSignIn(request: SignInRequest): Promise<VerifiedIdentity>;
  /** Validates a bearer access token meant for this gateway's API. */
  verifyAccessToken(request: Pick<SignInRequest, 'headers' | 'query'>): Promise<VerifiedIdentity>;
}

/** Identity providers; owned by the identity plugin, which picks the configured one by name. */
export const identityProvidersPoint = createExtensionPoint<IdentityProvider>('identity.providers');

/** The signed-in device user of a browser request, as the session holds them. */
export interface SignedInUser {
  id: string;
  upn: string;
  displayName: string;
  tenantId?: string;
  groups: readonly string[];
}

/**
 * The browser session, for plugins with pages (the portal). Provided by the identity plugin, which owns the
 * cookie, its store and the sign-in routes.
 */
export interface BrowserSessions {
  /** Undefined when nobody is signed in, the session expired, or the user was disabled since. */
  currentUser(ctx: Koa.Context): Promise<SignedInUser | undefined>;
  /** The session's anti-forgery token; forms and fetches that change state carry it. */
  csrfToken(ctx: Koa.Context): Promise<string | undefined>;
  /** True when `submitted` matches the session's token (constant-time). */
  verifyCsrf(ctx: Koa.Context, submitted: string | undefined): Promise<boolean>;
  /** Where to send the browser to sign in and come back to `returnTo` (a path of this gateway). */
  signInPath(returnTo: string): string;
}
export const browserSessionsRef = createServiceRef<BrowserSessions>('identity.sessions');
