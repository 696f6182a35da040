import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import mongoose, { type Connection } from 'mongoose';
import type { CoreConfig } from '../config/schema.js';
import { MIGRATION_LOCK_COLLECTION, schemaVersions } from '../migrations.js';
import { redactUrl } from '../redis.js';
import { GatewayError } from '../sdk/errors.js';
import type { CliIO } from '../sdk/plugin.js';

export class BackupError extends GatewayError {}

const { EJSON } = mongoose.mongo.BSON;
const MANIFEST = 'manifest.json';
const BATCH = 500;

export const dbUsage = `  db status [--json]               the schema version of the core and each plugin in the database
  db backup <dir> [--only a,b | --exclude a,b] [--json]
                                   export collections as Extended JSON (one file each, plus a manifest)
  db restore <dir> [--drop] [--json]
                                   import a backup; refuses to overwrite collections that hold data unless --drop`;

interface Manifest {
  format: 'enrollment-gateway-backup/1';
  createdAt: string;
  database: string;
  schema: Record<string, number>;
  collections: Record<string, number>;
}

/** `gateway db …`: talks to MongoDB only, so no plugin starts, no Redis, no HTTP server, no workers. */
export async function runDbCommand(args: readonly string[], config: CoreConfig, io: CliIO): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: [...rest],
    options: {
      json: { type: 'boolean' },
      only: { type: 'string' },
      exclude: { type: 'string' },
      drop: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const mongo = await mongoose
    .createConnection(config.mongodb.uri, { serverSelectionTimeoutMS: config.mongodb.serverSelectionTimeoutMs })
    .asPromise()
    .catch((error: Error) => {
      throw new BackupError(
        'mongodb_unreachable',
        `cannot reach MongoDB at ${redactUrl(config.mongodb.uri)}: ${error.message}`,
      );
    });
  try {
    const print = (human: string, machine: unknown) => io.out(values.json ? JSON.stringify(machine) : human);
    if (sub === 'status') {
      const schema = await schemaVersions(mongo);
      const lines = Object.entries(schema).map(([owner, version]) => `${owner.padEnd(24)} ${version}`);
      print(lines.join('\n') || 'no schema recorded (the gateway has not started on this database)', { schema });
      return 0;
    }
    const dir = positionals[0];
    if ((sub !== 'backup' && sub !== 'restore') || !dir) {
      io.err(`usage:\n${dbUsage}`);
      return 2;
    }
    if (sub === 'backup') {
      const manifest = await backup(mongo, dir, list(values.only), list(values.exclude));
      print(`backed up ${describe(manifest.collections)} to ${dir}`, manifest);
    } else {
      const restored = await restore(mongo, dir, values.drop === true);
      print(`restored ${describe(restored)} from ${dir}`, { collections: restored });
    }
    return 0;
  } finally {
    await mongo.close();
  }
}

const list = (value: string | undefined) => (value ? value.split(',').map((name) => name.trim()) : undefined);
const describe = (counts: Record<string, number>) =>
  `${Object.keys(counts).length} collections (${Object.values(counts).reduce((a, b) => a + b, 0)} documents)`;

async function backup(mongo: Connection, dir: string, only?: string[], exclude?: string[]): Promise<Manifest> {
  const db = mongo.db;
  if (!db) throw new BackupError('not_connected', 'no database');
  if (existsSync(path.join(dir, MANIFEST))) throw new BackupError('backup_exists', `${dir} already holds a backup`);
  mkdirSync(dir, { recursive: true });
  const names = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((collection) => collection.name)
    .filter((name) => !name.startsWith('system.') && name !== MIGRATION_LOCK_COLLECTION)
    .filter((name) => (only ? only.includes(name) : !exclude?.includes(name)))
    .sort();
  const collections: Record<string, number> = {};
  for (const name of names) {
    const file = await open(path.join(dir, `${name}.ejson`), 'w');
    let count = 0;
    try {
      for await (const doc of db.collection(name).find({})) {
        await file.write(`${EJSON.stringify(doc, { relaxed: false })}\n`);
        count++;
      }
    } finally {
      await file.close();
    }
    collections[name] = count;
  }
  const manifest: Manifest = {
    format: 'enrollment-gateway-backup/1',
    createdAt: new Date().toISOString(),
    database: db.databaseName,
    schema: await schemaVersions(mongo),
    collections,
  };
  // Written last: a folder without a manifest is an interrupted backup, and restore refuses it.
  writeFileSync(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

async function restore(mongo: Connection, dir: string, drop: boolean): Promise<Record<string, number>> {
  const db = mongo.db;
  if (!db) throw new BackupError('not_connected', 'no database');
  const manifestFile = path.join(dir, MANIFEST);
  if (!existsSync(manifestFile)) throw new BackupError('no_backup', `${dir} holds no complete backup (no ${MANIFEST})`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  if (manifest.format !== 'enrollment-gateway-backup/1')
    throw new BackupError('backup_format', `${dir}: unknown backup format ${String(manifest.format)}`);
  const names = Object.keys(manifest.collections);
  if (!drop) {
    for (const name of names) {
      if ((await db.collection(name).estimatedDocumentCount()) > 0)
        throw new BackupError('restore_would_overwrite', `collection ${name} holds data; pass --drop to replace it`);
    }
  }
  const restored: Record<string, number> = {};
  for (const name of names) {
    const collection = db.collection(name);
    if (drop) await collection.deleteMany({});
    let batch: Record<string, unknown>[] = [];
    let count = 0;
    const lines = createInterface({ input: createReadStream(path.join(dir, `${name}.ejson`)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      batch.push(EJSON.parse(line, { relaxed: false }) as Record<string, unknown>);
      if (batch.length === BATCH) {
        await collection.insertMany(batch, { ordered: true });
        count += batch.length;
        batch = [];
      }
    }
    if (batch.length > 0) await collection.insertMany(batch, { ordered: true });
    restored[name] = count + batch.length;
    if (restored[name] !== manifest.collections[name])
      throw new BackupError(
        'backup_incomplete',
        `${name}: ${restored[name]} documents, the manifest says ${manifest.collections[name]}`,
      );
  }
  return restored;
}
