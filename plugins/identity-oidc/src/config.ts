import { z } from 'zod';

/** A claim name, or a dotted path into nested claims (Keycloak: "realm_access.roles"). */
const claimPath = z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, 'a claim name or a dotted path such as realm_access.roles');

export const oidcConfigSchema = z.object({
  issuer: z
    .url()
    .describe('Issuer URL of the OpenID Connect provider; metadata is <issuer>/.well-known/openid-configuration'),
  clientId: z.string().min(1).describe("Client id of the gateway's application at the provider"),
  clientSecret: z.string().min(1).meta({ secret: true, description: 'Client secret of that application' }),
  tokenEndpointAuthMethod: z
    .enum(['client_secret_basic', 'client_secret_post'])
    .default('client_secret_basic')
    .describe('How the gateway authenticates at the token endpoint'),
  scopes: z
    .array(z.string().min(1))
    .default(['openid', 'profile', 'email'])
    .describe('Scopes requested at sign-in; add the one that releases groups if the provider needs it'),
  usernameClaim: claimPath
    .default('preferred_username')
    .describe('Claim with the sign-in name; falls back to email, then to sub'),
  groupsClaim: claimPath.default('groups').describe("Claim (or dotted path) with the user's groups"),
  rolesClaim: claimPath
    .default('roles')
    .describe("Claim (or dotted path) with the user's roles; identity-entra.adminRoles lists the admin ones"),
  requireGroupsClaim: z
    .boolean()
    .default(false)
    .describe('Refuse id tokens without the groups claim (turn on once the provider releases it)'),
  apiAudiences: z
    .array(z.string().min(1))
    .default([])
    .describe('Accepted audiences of bearer access tokens (JWT) for the admin API; default: the client id'),
});

export type OidcConfig = z.output<typeof oidcConfigSchema>;
