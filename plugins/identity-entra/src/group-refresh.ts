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

/** Graph is throttling or down: stop the pass here rather than burn through every user. */
const stopsThePass = (error: unknown) =>
  !(error instanceof GraphError) || error.status === undefined || error.status === 429 || error.status >= 500;

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
