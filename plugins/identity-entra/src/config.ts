import { z } from 'zod';

const secretMeta = (description: string) => ({ secret: true, description });
const missingSecrets =
  'session cookie signing keys are missing: set plugins.identity-entra.sessionSecrets, e.g. ' +
  'GATEWAY_PLUGINS__IDENTITY_ENTRA__SESSION_SECRETS=\'["<openssl rand -base64 32>"]\'';

export const identityConfigSchema = z
  .object({
    tenantId: z
      .string()
      .min(1)
      .optional()
      .describe('Directory (tenant) id of the Entra tenant users sign in with (needed when provider is "entra")'),
    clientId: z
      .string()
      .min(1)
      .optional()
      .describe('Application (client) id of the gateway\'s app registration (needed when provider is "entra")'),
    clientSecret: z.string().min(1).optional().meta(secretMeta('Client secret of the app registration')),
    authority: z
      .url()
      .default('https://login.microsoftonline.com')
      .describe('Entra authority host; metadata is <authority>/<tenantId>/v2.0/.well-known/openid-configuration'),
    graphUrl: z
      .url()
      .default('https://graph.microsoft.com')
      .describe('Microsoft Graph, for group overage, group pickers and the group refresh'),
    graphScope: z
      .string()
      .default('https://graph.microsoft.com/.default')
      .describe('Scope of the app-only Graph token'),
    groupRefreshMinutes: z
      .number()
      .int()
      .min(0)
      .max(10_080)
      .default(60)
      .describe(
        "How often every Entra user's groups are read again from Graph, so group changes reach devices and admin rights without a new sign-in; 0 turns it off",
      ),
    provider: z
      .string()
      .default('entra')
      .describe('Identity provider to sign in with: "entra", or "oidc" with the identity-oidc plugin enabled'),
    sessionSecrets: z
      .array(z.string().min(32, 'each session secret needs at least 32 characters'), { error: missingSecrets })
      .min(1, missingSecrets)
      .meta(secretMeta('Keys that sign session cookies, newest first (JSON array); older ones still verify')),
    sessionCookieName: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('__Host-gw_session')
      .describe(
        'Session cookie name; the __Host- prefix (Secure, Path=/, no Domain) keeps a sibling subdomain from planting one',
      ),
    sessionIdleMinutes: z.number().int().min(1).max(1440).default(60).describe('Sign out after this long idle'),
    sessionAbsoluteHours: z.number().int().min(1).max(720).default(12).describe('Sign out this long after sign-in'),
    adminRoles: z.array(z.string().min(1)).default(['Gateway.Admin']).describe('App roles that make a user an admin'),
    adminGroups: z.array(z.string().min(1)).default([]).describe('Group object ids whose members are admins'),
    apiAudiences: z
      .array(z.string().min(1))
      .default([])
      .describe('Accepted audiences of bearer tokens; default: the client id and api://<client id>'),
    requireGroupsClaim: z
      .boolean()
      .default(true)
      .describe('Refuse id tokens without a groups claim (configure "groups" in the app registration)'),
  })
  .superRefine((config, issues) => {
    if (config.provider !== 'entra') return;
    for (const key of ['tenantId', 'clientId', 'clientSecret'] as const) {
      if (!config[key])
        issues.addIssue({ code: 'custom', path: [key], message: `${key} is required for Entra sign-in` });
    }
  });

export type IdentityConfig = z.output<typeof identityConfigSchema>;
/** The settings once Entra is the provider: the schema then requires the app registration. */
export type EntraConfig = IdentityConfig & { tenantId: string; clientId: string; clientSecret: string };

export function entraConfig(config: IdentityConfig): EntraConfig | undefined {
  const { tenantId, clientId, clientSecret } = config;
  return tenantId && clientId && clientSecret ? { ...config, tenantId, clientId, clientSecret } : undefined;
}
