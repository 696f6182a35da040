import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ChangeLog } from './change-log.js';
import { type CatalogSnapshot, type CompiledLimitPolicy, type CompiledProfile, compileProfile } from './matching.js';
import type { ChangeDoc, LimitPolicyRecords, ProfileDoc, ProfileRecords } from './storage/enrollment-records.js';

export interface CatalogOptions {
  /** Read only: the catalog never writes. */
  records: Pick<ProfileRecords, 'allProfiles' | 'profile'> & Pick<LimitPolicyRecords, 'allPolicies'>;
  log: ChangeLog;
  /** Shared client, for PUBLISH. */
  redis: Redis;
  /** A connection this catalog owns, for SUBSCRIBE. */
  createSubscriber: () => Redis;
  channel: string;
  refreshIntervalMs: number;
  logger: Logger;
  /** Called after every reload with the time it took. */
  onReload?: (ms: number, revision: number) => void;
}

const fromDoc = (doc: ProfileDoc) => ({
  id: doc._id,
  name: doc.name,
  enrollmentType: doc.enrollmentType,
  allUsers: doc.assignments.allUsers,
  includedGroups: doc.assignments.includedGroups ?? [],
  excludedGroups: doc.assignments.excludedGroups ?? [],
});

type CatalogRecords = CatalogOptions['records'];

async function loadPolicies(records: CatalogRecords): Promise<CompiledLimitPolicy[]> {
  const docs = await records.allPolicies();
  return docs.map((doc) => ({
    id: doc._id,
    name: doc.name,
    groups: doc.groups,
    limit: doc.limit,
    priority: doc.priority,
  }));
}

/** Changes a replica applies one by one; further behind, it reads everything again. */
const INCREMENTAL_MAX = 50;
const PROFILE_KINDS = new Set([
  'profile.create',
  'profile.update',
  'profile.delete',
  'profile.reorder',
  'profile.move',
]);

/**
 * Reads the newest change first, so a change that races the load always carries a newer revision.
 * From a previous snapshot only the profiles named by the changes since are read again.
 */
export async function loadSnapshot(
  records: CatalogRecords,
  log: ChangeLog,
  previous?: CatalogSnapshot,
): Promise<CatalogSnapshot> {
  const head = await log.latest();
  if (previous && head._id === previous.revision) return previous;
  if (previous && head._id > previous.revision && head._id - previous.revision <= INCREMENTAL_MAX) {
    const incremental = await applyChanges(records, log, previous, head);
    if (incremental) return incremental;
  }
  const [profileDocs, limitPolicies] = await Promise.all([records.allProfiles(), loadPolicies(records)]);
  const byId = new Map(profileDocs.map((doc) => [doc._id, doc]));
  const profiles: CompiledProfile[] = [];
  for (const id of head.ids) {
    const doc = byId.get(id);
    if (doc) profiles.push(compileProfile(fromDoc(doc), profiles.length + 1));
  }
  return { revision: head._id, profiles, limitPolicies };
}

async function applyChanges(
  records: CatalogRecords,
  log: ChangeLog,
  previous: CatalogSnapshot,
  head: ChangeDoc,
): Promise<CatalogSnapshot | undefined> {
  const entries = await Promise.all(
    Array.from({ length: head._id - previous.revision }, (_, i) => log.entry(previous.revision + 1 + i)),
  );
  const stale = new Set<string>();
  let policiesChanged = false;
  for (const entry of entries) {
    if (!entry) return undefined;
    if (entry.kind.startsWith('limit-policy.')) policiesChanged = true;
    else if (!PROFILE_KINDS.has(entry.kind)) return undefined;
    else if (entry.target && (entry.kind === 'profile.create' || entry.kind === 'profile.update'))
      stale.add(entry.target);
  }
  const byId = new Map(previous.profiles.map((p) => [p.id, fromCompiled(p)]));
  const [docs, limitPolicies] = await Promise.all([
    Promise.all([...stale].map((id) => records.profile(id))),
    policiesChanged ? loadPolicies(records) : previous.limitPolicies,
  ]);
  for (const doc of docs) if (doc) byId.set(doc._id, fromDoc(doc));
  const profiles: CompiledProfile[] = [];
  for (const id of head.ids) {
    const base = byId.get(id);
    if (!base) return undefined;
    profiles.push(compileProfile(base, profiles.length + 1));
  }
  return { revision: head._id, profiles, limitPolicies };
}

const fromCompiled = (p: CompiledProfile) => ({
  id: p.id,
  name: p.name,
  enrollmentType: p.enrollmentType,
  allUsers: p.allUsers,
  includedGroups: p.includedGroups,
  excludedGroups: p.excludedGroups,
});

/**
 * The per-process cache of compiled profiles and limit policies. A change anywhere bumps the
 * revision in MongoDB and is announced on Redis pub/sub; a replica reloads when it holds an older
 * revision. A slow poll catches announcements lost while Redis was unreachable.
 */
export class ProfileCatalog {
  private snapshot: CatalogSnapshot | undefined;
  private loading: Promise<CatalogSnapshot> | undefined;
  private subscriber: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: CatalogOptions) {}

  /** The cached snapshot; loads it the first time. */
  async current(): Promise<CatalogSnapshot> {
    return this.snapshot ?? this.ensure(0);
  }

  get revision(): number | undefined {
    return this.snapshot?.revision;
  }

  /** Returns a snapshot at `minRevision` or newer, reloading as often as needed (a load can race a change). */
  async ensure(minRevision: number): Promise<CatalogSnapshot> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (this.snapshot && this.snapshot.revision >= minRevision) return this.snapshot;
      await this.reload();
    }
    // A revision announced but never readable (rolled back by hand?): serve the newest we could load.
    this.options.logger.warn({ minRevision, revision: this.snapshot?.revision }, 'profile revision not reached');
    return this.snapshot ?? this.reload();
  }

  /** One load at a time; callers arriving during a load share it. */
  private reload(): Promise<CatalogSnapshot> {
    this.loading ??= (async () => {
      const started = performance.now();
      try {
        const next = await loadSnapshot(this.options.records, this.options.log, this.snapshot);
        if (!this.snapshot || next.revision >= this.snapshot.revision) this.snapshot = next;
        this.options.onReload?.(performance.now() - started, next.revision);
        return this.snapshot;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** Tells the other replicas (and this one) that `revision` exists. */
  async announce(revision: number): Promise<void> {
    await this.ensure(revision);
    try {
      await this.options.redis.publish(this.options.channel, JSON.stringify({ revision }));
    } catch (error) {
      this.options.logger.warn({ err: error, revision }, 'could not announce a profile change; replicas poll');
    }
  }

  async start(): Promise<void> {
    await this.ensure(0);
    const subscriber = this.options.createSubscriber();
    this.subscriber = subscriber;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.options.channel) return;
      const revision = parseRevision(message);
      if (revision === undefined) return;
      if (this.snapshot && this.snapshot.revision >= revision) return;
      this.ensure(revision).catch((error: unknown) =>
        this.options.logger.warn({ err: error, revision }, 'profile reload failed'),
      );
    });
    // After a reconnect, announcements made while we were away are lost: check the revision.
    subscriber.on('ready', () => void this.checkRevision());
    await subscriber.subscribe(this.options.channel);
    if (this.options.refreshIntervalMs > 0) {
      this.timer = setInterval(() => void this.checkRevision(), this.options.refreshIntervalMs);
      this.timer.unref();
    }
  }

  private async checkRevision(): Promise<void> {
    try {
      const { _id: revision } = await this.options.log.latest();
      if (!this.snapshot || revision > this.snapshot.revision) await this.ensure(revision);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'profile revision check failed');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (!subscriber) return;
    subscriber.removeAllListeners('message');
    subscriber.removeAllListeners('ready');
    try {
      if (subscriber.status === 'ready') await subscriber.quit();
      else subscriber.disconnect();
    } catch {
      subscriber.disconnect();
    }
  }
}

function parseRevision(message: string): number | undefined {
  try {
    const revision = (JSON.parse(message) as { revision?: unknown }).revision;
    return typeof revision === 'number' && Number.isSafeInteger(revision) ? revision : undefined;
  } catch {
    return undefined;
  }
}
