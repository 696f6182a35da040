import { definePlugin, identityProvidersPoint } from 'enrollment-gateway/sdk';
import { oidcConfigSchema } from './src/config.js';
import { OidcIdentityProvider } from './src/oidc-provider.js';

/**
 * Sign-in with any OpenID Connect provider (Okta, Google Workspace, Keycloak, Authentik), contributed to the
 * identity-provider extension point. Sessions, the /auth routes, the user directory and admin authentication stay
 * with the identity plugin (identity-entra), which signs in through this provider when its `provider` is "oidc".
 */
export default definePlugin({
  name: 'identity-oidc',
  version: '1.0.0',
  coreApi: '^2.0.0',
  description: 'Sign-in with any OpenID Connect provider (discovery, code flow with PKCE)',
  dependsOn: ['identity-entra'],
  config: oidcConfigSchema,
  register(api) {
    api.contribute(identityProvidersPoint, (ctx) => new OidcIdentityProvider(ctx.config, ctx.gateway.publicUrl));
  },
});
