import type Koa from 'koa';
import { createExtensionPoint, createServiceRef } from '../refs.js';

/** Who is calling the admin API: a signed-in admin, a bearer token, or an API key. */
export interface AdminPrincipal {
  id: string;
  kind: 'user' | 'bearer' | 'api-key' | 'system';
  displayName: string;
  /** Granted scopes, e.g. "devices:read"; "*" grants everything. */
  scopes: readonly string[];
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

export interface UserDirectory {
  get(userId: string): Promise<DirectoryUser | undefined>;
  /** Whether each id names a known group (for validating assignments). */
  knownGroups(groupIds: readonly string[]): Promise<{ known: string[]; unknown: string[] }>;
}
export const userDirectoryRef = createServiceRef<UserDirectory>('identity.users');
