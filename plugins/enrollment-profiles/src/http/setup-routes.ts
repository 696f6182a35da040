import type Router from '@koa/router';
import { adminApi, type MdmSetupStatus, type PluginContext, type UserDirectory } from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { ProfileCatalog } from '../catalog.js';

export interface ChecklistItem {
  item: 'ca' | 'signing-certificate' | 'push-certificate' | 'identity-provider' | 'enrollment-profile';
  ok: boolean;
  problem?: string;
  /** Where to fix it: a command, an API path or a documentation page. */
  link: string;
}

export interface SetupDeps {
  setup: () => MdmSetupStatus | undefined;
  users: () => UserDirectory | undefined;
  catalog: ProfileCatalog;
}

const LINKS: Record<ChecklistItem['item'], string> = {
  ca: 'docs/deploy.md (the CA is created at first start; `gateway mdm import-ca` replaces it)',
  'signing-certificate': 'docs/deploy.md (issued under the CA at first start)',
  'push-certificate': 'docs/deploy.md (upload the Apple MDM push certificate to the apns plugin)',
  'identity-provider': 'docs/configuration.md (enable the identity-entra plugin)',
  'enrollment-profile': 'POST /api/enrollment-profiles (docs/enrollment-profiles.md)',
};

/** What still blocks enrollment; every item must be ok before the portal serves a profile. */
export async function setupChecklist(deps: SetupDeps): Promise<{ complete: boolean; items: ChecklistItem[] }> {
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
  items.push(
    deps.users()
      ? { item: 'identity-provider', ok: true, link: LINKS['identity-provider'] }
      : {
          item: 'identity-provider',
          ok: false,
          problem: 'no identity provider plugin is enabled: users cannot sign in',
          link: LINKS['identity-provider'],
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
  return { complete: items.every((i) => i.ok), items };
}

const checklistSchema = z.object({
  complete: z.boolean(),
  items: z.array(
    z.object({
      item: z.enum(['ca', 'signing-certificate', 'push-certificate', 'identity-provider', 'enrollment-profile']),
      ok: z.boolean(),
      problem: z.string().optional(),
      link: z.string().describe('Where to fix it: a command, an API path or a documentation page'),
    }),
  ),
});

/** GET /api/setup/checklist */
export function mountSetupRoutes(router: Router, ctx: PluginContext<unknown>, deps: SetupDeps): void {
  adminApi(router, ctx, { tags: ['setup'] }).get(
    '/checklist',
    {
      scope: 'profiles:read',
      summary: 'What still blocks enrollment: CA, signing and push certificates, identity provider, a profile',
      responses: { 200: { description: 'The checklist', schema: checklistSchema } },
    },
    async (koa) => {
      koa.body = await setupChecklist(deps);
    },
  );
}
