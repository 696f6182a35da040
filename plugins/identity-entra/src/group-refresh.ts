import { type PluginContext, type QueueDefinition, withRedisLock } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { GraphError, type GroupSource } from './graph.js';
import type { MongoUserDirectory } from './users.js';

/** Users read per page; Graph calls in flight at once (Graph throttles per app and tenant). */
const PAGE_SIZE = 100;
const GRAPH_CALLS_AT_ONCE = 4;

export interface GroupRefreshDeps {
  users: Pick<MongoUserDirectory, 'pageSignedInWith' | 'refreshGroups'>;
  graph: GroupSource;
  /** Where an interrupted pass goes on (Redis: losing it only restarts the pass). */
  cursor: { get(): Promise<string | undefined>; set(next: string | undefined): Promise<void> };
  logger: Pick<Logger, 'info' | 'warn'>;
}

export interface GroupRefreshPass {
  checked: number;
  changed: number;
  /** Users Graph did not answer for (no such user any more, a refusal): their groups stay as they were. */
  skipped: number;
  /** Graph throttled or failed: the pass stopped and the next run goes on from there. */
  interrupted: boolean;
}

/**
 * Graph is throttling, down, or refuses the app (a missing GroupMember.Read.All): stop the pass here rather than
 * make one failing call per user. Only a user Graph does not know (404) is passed over.
 */
const stopsThePass = (error: unknown) => !(error instanceof GraphError) || error.status !== 404;

/**
 * One pass over the users who signed in with Entra: each one's groups as Graph has them now
 * (getMemberGroups, transitive), stored and announced (user.groupsChanged) where they changed, so a group change in
 * Entra reaches the devices' declarations and admin rights without waiting for the user's next sign-in.
 */
export async function refreshGroups(deps: GroupRefreshDeps): Promise<GroupRefreshPass> {
  const pass: GroupRefreshPass = { checked: 0, changed: 0, skipped: 0, interrupted: false };
  let cursor = await deps.cursor.get();
  do {
    const page = await deps.users.pageSignedInWith('entra', cursor, PAGE_SIZE);
    for (let i = 0; i < page.ids.length && !pass.interrupted; i += GRAPH_CALLS_AT_ONCE) {
      await Promise.all(page.ids.slice(i, i + GRAPH_CALLS_AT_ONCE).map((userId) => refreshOne(deps, userId, pass)));
    }
    if (pass.interrupted) break;
    cursor = page.next;
    await deps.cursor.set(cursor);
  } while (cursor);
  deps.logger.info({ ...pass }, 'group refresh pass');
  return pass;
}

async function refreshOne(deps: GroupRefreshDeps, userId: string, pass: GroupRefreshPass): Promise<void> {
  // Taken before the read: a sign-in after this moment is newer than what Graph says here.
  const observedAt = new Date();
  try {
    const groups = await deps.graph.memberGroups(userId);
    pass.checked += 1;
    if (await deps.users.refreshGroups(userId, groups, observedAt)) pass.changed += 1;
  } catch (error) {
    if (stopsThePass(error)) {
      if (!pass.interrupted)
        deps.logger.warn({ err: { message: (error as Error).message } }, 'group refresh stopped; next run goes on');
      pass.interrupted = true;
      return;
    }
    pass.skipped += 1;
  }
}

export const GROUP_REFRESH_QUEUE = 'identity-group-refresh';
/** A pass holds this for at most so long: a second job (another work replica, a retry) waits its turn. */
const PASS_LOCK_MS = 30 * 60_000;
/**
 * The refresh job (work role) and its schedule: one pass at a time across replicas (a Redis lock), every
 * `groupRefreshMinutes`; off (and an earlier schedule removed) without Graph or at 0 minutes.
 */
export function groupRefreshJob<C extends { groupRefreshMinutes: number }>(
  deps: (ctx: PluginContext<C>) => { users: GroupRefreshDeps['users']; graph?: GroupSource },
): { queue: QueueDefinition<{ kind: 'refresh' }, C>; schedule(ctx: PluginContext<C>): Promise<void> } {
  return {
    queue: {
      name: GROUP_REFRESH_QUEUE,
      concurrency: 1,
      processor: async (_job, ctx) => {
        const { users, graph } = deps(ctx);
        if (!graph) return;
        const key = `${ctx.redisKeyPrefix}group-refresh-cursor`;
        await withRedisLock(ctx.redis, `${ctx.redisKeyPrefix}group-refresh-lock`, PASS_LOCK_MS, () =>
          refreshGroups({
            users,
            graph,
            cursor: {
              get: async () => (await ctx.redis.get(key)) ?? undefined,
              set: async (next) => {
                if (next) await ctx.redis.set(key, next);
                else await ctx.redis.del(key);
              },
            },
            logger: ctx.logger,
          }),
        );
      },
    },
    async schedule(ctx) {
      const { queue } = ctx.queue<{ kind: 'refresh' }>(GROUP_REFRESH_QUEUE);
      if (!deps(ctx).graph || ctx.config.groupRefreshMinutes === 0) {
        await queue.removeJobScheduler(GROUP_REFRESH_QUEUE);
        return;
      }
      await queue.upsertJobScheduler(
        GROUP_REFRESH_QUEUE,
        { every: ctx.config.groupRefreshMinutes * 60_000 },
        { name: 'refresh', data: { kind: 'refresh' }, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
    },
  };
}
