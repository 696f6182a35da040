import {
  adminApi,
  GatewayError,
  type PluginContext,
  type PluginRouter,
  ProblemError,
  type UserDirectory,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';

const groupSearchQuery = z.object({
  q: z.string().trim().min(1).max(120).describe('Part of a group name (Entra) or id'),
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

const groupSearchAnswer = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      displayName: z.string().optional(),
      source: z.enum(['directory', 'sign-ins']),
    }),
  ),
  searchable: z.boolean().describe('false when no identity provider can search groups'),
});

/**
 * GET /api/enrollment-profiles/groups?q=: the group picker's matches, from the identity plugin's directory search
 * (Microsoft Graph for Entra, the groups seen at sign-in otherwise). Mounted before /:id so "groups" is no id.
 */
export function mountGroupSearch(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: { users: () => UserDirectory | undefined },
): void {
  const api = adminApi(router, ctx, { tags: ['enrollment-profiles'] });
  api.get(
    '/groups',
    {
      scope: 'profiles:read',
      summary: 'Search the directory for groups to assign',
      query: groupSearchQuery,
      responses: {
        200: { description: 'Matching groups, directory matches first', schema: groupSearchAnswer },
        502: { description: 'The directory (Microsoft Graph) refused or failed' },
      },
    },
    async (koa, { query }) => {
      const directory = deps.users();
      if (!directory?.searchGroups) {
        koa.body = { items: [], searchable: false };
        return;
      }
      try {
        koa.body = { items: await directory.searchGroups(query.q, query.limit), searchable: true };
      } catch (error) {
        if (!(error instanceof GatewayError)) throw error;
        throw new ProblemError(502, 'Bad Gateway', `the directory search failed: ${error.message}`);
      }
    },
  );
}
