import type Koa from 'koa';
import { createExtensionPoint, createServiceRef } from '../refs.js';

/** Who is calling the admin API: a signed-in admin, a bearer token, or an API key. */
export interface AdminPrincipal {
  id: string;
  kind: 'user' | 'bearer' | 'api-key' | 'system';
  displayName: string;
  /** Granted scopes, e.g. "devices:read"; "*" grants everything; "*:read" reads every area. */
  scopes: readonly string[];
  /**
   * Set by a browser-session authenticator: the session's anti-forgery token (pages send it as X-CSRF-Token)
   * and where its sign-out form posts (with the token in a `csrf` field).
   */
  session?: { csrfToken: string; signOutPath: string };
}

/**
 * Recognises one kind of credential. Returns undefined when the request does not carry that kind,
 * and throws a ProblemError (401/403) when it carries one that is invalid, expired or revoked.
 */
export interface AdminAuthenticator {
  readonly name: string;
  authenticate(ctx: Koa.Context): Promise<AdminPrincipal | undefined>;
}
export const adminAuthenticatorsPoint = createExtensionPoint<AdminAuthenticator>('admin.authenticators');

/**
 * A way for an admin to sign in with a browser (passkeys, an identity provider). The admin center's sign-in page
 * lists them; `path` leads to the method's own page and comes back to `returnTo` (a path of this gateway).
 */
export interface AdminSignInMethod {
  readonly id: string;
  readonly label: string;
  path(returnTo: string): string;
}
/** Owned by no plugin, so a sign-in method needs no dependency on the admin center. */
export const adminSignInMethodsPoint = createExtensionPoint<AdminSignInMethod>('admin.signInMethods');

/** Deny by default: a route guarded with a scope answers 401 without credentials and 403 without the scope. */
export interface AdminGuard {
  require(scope: string): Koa.Middleware;
}
export const adminGuardRef = createServiceRef<AdminGuard>('admin.guard');

export interface AuditEntry {
  actor: Pick<AdminPrincipal, 'id' | 'kind' | 'displayName'>;
  action: string;
  target: { type: string; id: string };
  before?: unknown;
  after?: unknown;
  /** Request id, for correlation with logs. */
  requestId?: string;
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
}
export const auditLogRef = createServiceRef<AuditLog>('admin.audit');

/** Koa state key where the guard leaves the authenticated principal. */
export const ADMIN_PRINCIPAL_STATE = 'adminPrincipal';

/** A work or school account as the gateway knows it. Provided by the identity plugin. */
export interface DirectoryUser {
  id: string;
  upn: string;
  displayName: string;
  tenantId?: string;
  enabled: boolean;
  /** Group object ids the user belongs to (from the token, or Microsoft Graph on overage). */
  groups: readonly string[];
  lastSignInAt?: Date;
}

/** A group as a directory search finds it; `source` says whether the directory or users' sign-ins vouch for it. */
export interface DirectoryGroup {
  id: string;
  displayName?: string;
  source: 'directory' | 'sign-ins';
}

export interface UserDirectory {
  get(userId: string): Promise<DirectoryUser | undefined>;
  /** Whether each id names a known group (for validating assignments). */
  knownGroups(groupIds: readonly string[]): Promise<{ known: string[]; unknown: string[] }>;
  /**
   * Ids of the users the gateway knows as members of a group (from their last sign-in), at most `limit`
   * (optional: bulk device commands to a user group need it).
   */
  membersOf?(groupId: string, limit: number): Promise<string[]>;
  /** Groups whose name or id contains `query` (case-insensitive), at most `limit`; for group pickers. Since 2.6.0. */
  searchGroups?(query: string, limit: number): Promise<DirectoryGroup[]>;
}
export const userDirectoryRef = createServiceRef<UserDirectory>('identity.users');
