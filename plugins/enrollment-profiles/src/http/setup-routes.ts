import {
  adminApi,
  type MdmSetupStatus,
  type PluginContext,
  type PluginRouter,
  type PushHealthSource,
  type UserDirectory,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { ProfileCatalog } from '../catalog.js';

export interface ChecklistItem {
  item: 'ca' | 'signing-certificate' | 'push-certificate' | 'identity-provider' | 'enrollment-profile';
  ok: boolean;
  problem?: string;
  /** Not blocking enrollment, but needs an admin: push failing, certificate expiring or self-signed … */
  warnings?: string[];
  /** Where to fix it: a command, an API path or a documentation page. */
  link: string;
}

export interface SetupDeps {
  setup: () => MdmSetupStatus | undefined;
  users: () => UserDirectory | undefined;
  /** Push delivery health (apns plugin), when enabled. */
  push?: () => PushHealthSource | undefined;
  /** Names of the contributed identity providers ("entra", "oidc"), to point at the right setup guide. */
  identityProviders?: () => readonly string[];
  catalog: ProfileCatalog;
}

const LINKS: Record<ChecklistItem['item'], string> = {
  ca: 'docs/deploy.md (the CA is created at first start; `gateway mdm import-ca` replaces it)',
  'signing-certificate': 'docs/deploy.md (issued under the CA at first start)',
  'push-certificate': 'docs/deploy.md (upload the Apple MDM push certificate to the apns plugin)',
  'identity-provider':
    'docs/identity-entra.md (Microsoft Entra ID) or docs/identity-oidc.md (Okta, Google, Keycloak, any OpenID Connect provider)',
  'enrollment-profile': 'POST /api/enrollment-profiles (docs/enrollment-profiles.md)',
};

/** The setup guide of the provider in use (identity-entra contributes "entra" only when it is the provider). */
export function identityGuide(providers: readonly string[]): string {
  if (providers.includes('entra')) return 'docs/identity-entra.md (the Entra app registration, step by step)';
  if (providers.includes('oidc')) return 'docs/identity-oidc.md (the OpenID Connect client, per provider)';
  return LINKS['identity-provider'];
}

/** The push problems an admin must act on ("not installed" is already the item's own problem). */
async function pushHealthWarnings(deps: SetupDeps): Promise<string[]> {
  const source = deps.push?.();
  if (!source) return [];
  try {
    const { problems } = await source.health();
    return problems.filter((p) => p.kind !== 'not-installed').map((p) => p.message);
  } catch (error) {
    return [`push delivery health could not be read: ${(error as Error).message}`];
  }
}

/** What still blocks enrollment; every item must be ok before the portal serves a profile. */
export async function setupChecklist(
  deps: SetupDeps,
): Promise<{ complete: boolean; needsAttention: boolean; items: ChecklistItem[] }> {
  const setup = deps.setup();
  const missing = setup
    ? await setup.missing()
    : (['ca', 'signing-certificate', 'push-certificate'] as const).map((item) => ({
        item,
        problem: 'the mdm plugin is not enabled',
      }));
  const snapshot = await deps.catalog.current();
  const items: ChecklistItem[] = (['ca', 'signing-certificate', 'push-certificate'] as const).map((item) => {
    const problems = missing.filter((m) => m.item === item).map((m) => m.problem);
    return problems.length > 0
      ? { item, ok: false, problem: problems.join('; '), link: LINKS[item] }
      : { item, ok: true, link: LINKS[item] };
  });
  const identityLink = identityGuide(deps.identityProviders?.() ?? []);
  items.push(
    deps.users()
      ? { item: 'identity-provider', ok: true, link: identityLink }
      : {
          item: 'identity-provider',
          ok: false,
          problem: 'no identity provider plugin is enabled: users cannot sign in',
          link: identityLink,
        },
  );
  items.push(
    snapshot.profiles.length > 0
      ? { item: 'enrollment-profile', ok: true, link: LINKS['enrollment-profile'] }
      : {
          item: 'enrollment-profile',
          ok: false,
          problem: 'no enrollment profile exists: nobody can enroll',
          link: LINKS['enrollment-profile'],
        },
  );
  const pushItem = items.find((i) => i.item === 'push-certificate');
  const pushWarnings = await pushHealthWarnings(deps);
  if (pushItem && pushWarnings.length > 0) pushItem.warnings = pushWarnings;
  return {
    complete: items.every((i) => i.ok),
    needsAttention: items.some((i) => !i.ok || (i.warnings?.length ?? 0) > 0),
    items,
  };
}

const checklistSchema = z.object({
  complete: z.boolean().describe('Nothing blocks enrollment'),
  needsAttention: z.boolean().describe("Something blocks enrollment or needs an admin (see each item's warnings)"),
  items: z.array(
    z.object({
      item: z.enum(['ca', 'signing-certificate', 'push-certificate', 'identity-provider', 'enrollment-profile']),
      ok: z.boolean().describe('The item does not block enrollment'),
      problem: z.string().optional(),
      warnings: z
        .array(z.string())
        .optional()
        .describe('Needs an admin without blocking enrollment: pushes failing, certificate expiring, self-signed …'),
      link: z.string().describe('Where to fix it: a command, an API path or a documentation page'),
    }),
  ),
});

/** GET /api/setup/checklist */
export function mountSetupRoutes(router: PluginRouter, ctx: PluginContext<unknown>, deps: SetupDeps): void {
  adminApi(router, ctx, { tags: ['setup'] }).get(
    '/checklist',
    {
      scope: 'profiles:read',
      summary:
        'What blocks enrollment or needs an admin: CA, signing and push certificates (and push delivery), identity provider, a profile',
      responses: { 200: { description: 'The checklist', schema: checklistSchema } },
    },
    async (koa) => {
      koa.body = await setupChecklist(deps);
    },
  );
}
