import {
  adminAuthenticatorsPoint,
  adminNavigationPoint,
  adminSignInMethodsPoint,
  auditLogRef,
  definePlugin,
  type PluginContext,
} from 'enrollment-gateway/sdk';
import { mountAdminApi } from './src/admin-api.js';
import { AdminSessionStore } from './src/admin-sessions.js';
import { adminCommands } from './src/cli.js';
import { type PasskeysConfig, passkeysConfigSchema, relyingParty } from './src/config.js';
import { PasskeyService } from './src/passkeys.js';
import { mountBrowserRoutes } from './src/routes.js';
import { passkeySessionAuthenticator, SessionCookie } from './src/session-http.js';
import { MongoPasskeyStorage } from './src/storage/passkey-storage.js';

function build(ctx: PluginContext<PasskeysConfig>) {
  const { config } = ctx;
  const rp = relyingParty(config, ctx.gateway.publicUrl, ctx.gateway.organizationName);
  const storage = new MongoPasskeyStorage(ctx.mongo);
  const passkeys = new PasskeyService(
    storage,
    ctx.redis,
    ctx.redisKeyPrefix,
    rp,
    config.inviteHours * 3_600_000,
    ctx.gateway.publicUrl,
  );
  const idleMs = config.sessionIdleMinutes * 60_000;
  const sessions = new AdminSessionStore(
    ctx.redis,
    ctx.redisKeyPrefix,
    idleMs,
    config.sessionAbsoluteHours * 3_600_000,
  );
  return { storage, passkeys, sessions, cookie: new SessionCookie(rp, idleMs) };
}

/**
 * Local administrators who sign in to the admin center with passkeys (WebAuthn), without any identity provider:
 * `gateway admin invite EMAIL` prints a one-time link, the invitee registers a passkey, and signs in with it.
 * Roles: read-only ("*:read") and full ("*"). Entra/OIDC admins and API keys keep working beside them.
 */
export default definePlugin({
  name: 'admin-passkeys',
  version: '1.0.0',
  coreApi: '^2.12.0',
  description: 'Local admin accounts with passkeys: invites, sign-in, sign-out, roles, revocation',
  dependsOn: ['admin-access'],
  config: passkeysConfigSchema,
  register(api) {
    let built: ReturnType<typeof build> | undefined;
    const services = (ctx: PluginContext<PasskeysConfig>) => {
      built ??= build(ctx);
      return built;
    };
    api.contribute(adminAuthenticatorsPoint, (ctx) => passkeySessionAuthenticator(services(ctx)));
    api.contribute(adminSignInMethodsPoint, () => ({
      id: 'passkey',
      label: 'Sign in with a passkey',
      path: (returnTo: string) => `/admin-auth/sign-in?returnTo=${encodeURIComponent(returnTo)}`,
    }));
    api.contribute(adminNavigationPoint, () => ({
      id: 'admins',
      label: 'Administrators',
      path: '/admin/administrators',
      scope: 'admins:read',
      order: 85,
    }));
    api.routes({
      prefix: '/admin-auth',
      bodyLimitBytes: 64 * 1024,
      mount: (router, ctx) =>
        mountBrowserRoutes(router, {
          ...services(ctx),
          organization: ctx.gateway.organizationName,
          audit: () => ctx.tryResolve(auditLogRef),
        }),
    });
    api.routes({
      prefix: '/api/admins',
      bodyLimitBytes: 4096,
      mount: (router, ctx) => mountAdminApi(router, ctx, services(ctx).passkeys),
    });
    for (const command of adminCommands<PasskeysConfig>((ctx) => ({
      passkeys: services(ctx).passkeys,
      audit: ctx.tryResolve(auditLogRef),
    }))) {
      api.command(command);
    }
    api.onStart(async (ctx) => {
      await services(ctx).storage.prepare();
    });
  },
});
