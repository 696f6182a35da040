import { hostname } from 'node:os';
import type { Connection } from 'mongoose';
import type { Logger } from 'pino';
import { GatewayError } from './sdk/errors.js';

/** One document per applied migration, inserted once it succeeded: the schema version recorded in the database. */
export const MIGRATIONS_COLLECTION = 'gateway_migrations';
/** The migration lock: a single document, taken by a unique insert, released by deleting it. */
export const MIGRATION_LOCK_COLLECTION = 'gateway_migration_lock';
const LOCK_ID = 'migrations';

export class SchemaTooNewError extends GatewayError {}
export class MigrationError extends GatewayError {}

/** A migration with what it runs against already bound. */
export interface BoundMigration {
  version: number;
  description: string;
  up(): Promise<void>;
}

export interface OwnedMigrations {
  /** "core" or a plugin's name. */
  owner: string;
  migrations: readonly BoundMigration[];
}

interface AppliedRecord {
  _id: string;
  owner: string;
  version: number;
  description: string;
  appliedAt: Date;
  by: string;
}

interface LockRecord {
  _id: string;
  owner: string;
  at: Date;
}

export interface MigrationOptions {
  /** A lock older than this is taken to belong to a starter that died, and is taken over. */
  staleLockMs?: number;
  /** How long a starter waits for another one's migrations. */
  waitMs?: number;
  pollMs?: number;
}

/** Highest applied version per owner. */
export async function schemaVersions(mongo: Connection): Promise<Record<string, number>> {
  const versions: Record<string, number> = {};
  const records = mongo
    .collection<AppliedRecord>(MIGRATIONS_COLLECTION)
    .find({}, { projection: { owner: 1, version: 1 } });
  for await (const record of records) versions[record.owner] = Math.max(versions[record.owner] ?? 0, record.version);
  return versions;
}

/** Refuses to run on a database a newer gateway (or plugin) has migrated past what this build knows. */
export async function assertSchemaNotNewer(mongo: Connection, owners: readonly OwnedMigrations[]): Promise<void> {
  const applied = await schemaVersions(mongo);
  for (const { owner, migrations } of owners) {
    const known = Math.max(0, ...migrations.map((migration) => migration.version));
    if ((applied[owner] ?? 0) > known) {
      throw new SchemaTooNewError(
        'schema_too_new',
        `the database schema of "${owner}" is at version ${applied[owner]}, newer than this gateway knows (${known}): ` +
          'run the newer gateway, or restore the backup taken before the upgrade',
      );
    }
  }
}

/**
 * Runs every migration not yet recorded, once across all replicas: the first starter takes the lock by a unique
 * insert, the others wait for it to be released and then find nothing left to do. Each migration is recorded only
 * after it succeeded, so one that failed runs again at the next start (migrations must be safe to re-run).
 */
export async function runMigrations(
  mongo: Connection,
  owners: readonly OwnedMigrations[],
  logger: Logger,
  options: MigrationOptions = {},
): Promise<number> {
  await assertSchemaNotNewer(mongo, owners);
  if (!(await hasPending(mongo, owners))) return 0;
  const me = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  await takeLock(mongo, me, logger, options);
  try {
    await assertSchemaNotNewer(mongo, owners);
    const applied = await appliedIds(mongo);
    let ran = 0;
    for (const { owner, migrations } of owners) {
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        const id = `${owner}:${migration.version}`;
        if (applied.has(id)) continue;
        logger.info({ owner, version: migration.version, description: migration.description }, 'running migration');
        try {
          await migration.up();
        } catch (error) {
          throw new MigrationError(
            'migration_failed',
            `migration ${id} (${migration.description}) failed: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await mongo.collection<AppliedRecord>(MIGRATIONS_COLLECTION).insertOne({
          _id: id,
          owner,
          version: migration.version,
          description: migration.description,
          appliedAt: new Date(),
          by: me,
        });
        ran++;
      }
    }
    return ran;
  } finally {
    await mongo.collection<LockRecord>(MIGRATION_LOCK_COLLECTION).deleteOne({ _id: LOCK_ID, owner: me });
  }
}

async function appliedIds(mongo: Connection): Promise<Set<string>> {
  const records = await mongo
    .collection<AppliedRecord>(MIGRATIONS_COLLECTION)
    .find({}, { projection: { _id: 1 } })
    .toArray();
  return new Set(records.map((record) => record._id));
}

async function hasPending(mongo: Connection, owners: readonly OwnedMigrations[]): Promise<boolean> {
  const applied = await appliedIds(mongo);
  return owners.some(({ owner, migrations }) => migrations.some((m) => !applied.has(`${owner}:${m.version}`)));
}

function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: number }).code === 11000;
}

async function takeLock(mongo: Connection, me: string, logger: Logger, options: MigrationOptions): Promise<void> {
  const locks = mongo.collection<LockRecord>(MIGRATION_LOCK_COLLECTION);
  const staleMs = options.staleLockMs ?? 10 * 60_000;
  const deadline = Date.now() + (options.waitMs ?? 15 * 60_000);
  let said = false;
  for (;;) {
    try {
      await locks.insertOne({ _id: LOCK_ID, owner: me, at: new Date() });
      return;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    const held = await locks.findOne({ _id: LOCK_ID });
    if (held && Date.now() - held.at.getTime() > staleMs) {
      // Deleted only if still the same stale holder; the next unique insert decides who takes over.
      await locks.deleteOne({ _id: LOCK_ID, owner: held.owner, at: held.at });
      logger.warn({ holder: held.owner }, 'took over a stale migration lock');
      continue;
    }
    if (!said) {
      logger.info({ holder: held?.owner }, 'waiting for another starter to finish migrations');
      said = true;
    }
    if (Date.now() > deadline)
      throw new MigrationError('migration_lock_timeout', `migrations are still locked by ${held?.owner ?? 'someone'}`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
  }
}
