/**
 * Preloaded into the benchmarked gateway (`node --import`): counts every MongoDB driver call (mongoose goes
 * through the same driver) by collection and method, and every Redis command, with their summed latency.
 * The first SIGUSR2 resets the counts (start of the measured phase), the next writes them as JSON to
 * $DB_OPS_FILE.<pid> (end of it), so the benchmark can report operations per round trip by type, summed over
 * the gateway's processes (readOpCounts in _op-counts.ts).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const file = process.env.DB_OPS_FILE;
const counts = new Map<string, { calls: number; ms: number }>();

function count(key: string, startedAt: number): void {
  const entry = counts.get(key) ?? { calls: 0, ms: 0 };
  entry.calls += 1;
  entry.ms += performance.now() - startedAt;
  counts.set(key, entry);
}

// The same module instances mongoose and ioredis load, not copies next to this file: resolved from the gateway's
// own checkout (its working directory), which is another tree when the bench compares with --gateway-dir.
const require = createRequire(createRequire(path.join(process.cwd(), 'package.json')).resolve('mongoose'));
const { Collection } = require('mongodb') as { Collection: { prototype: Record<string, unknown> } };
const methods = [
  'findOne',
  'findOneAndUpdate',
  'findOneAndDelete',
  'updateOne',
  'updateMany',
  'insertOne',
  'insertMany',
  'deleteOne',
  'deleteMany',
  'countDocuments',
  'distinct',
  'bulkWrite',
];
// The driver's findOne is a find() with limit 1: count it once.
let insideFindOne = false;
for (const method of methods) {
  const original = Collection.prototype[method] as (...args: unknown[]) => Promise<unknown>;
  Collection.prototype[method] = function (this: { collectionName: string }, ...args: unknown[]) {
    const startedAt = performance.now();
    insideFindOne = method === 'findOne';
    let result: Promise<unknown>;
    try {
      result = original.apply(this, args);
    } finally {
      insideFindOne = false;
    }
    const key = `mongo ${this.collectionName}.${method}`;
    return result.then(
      (value) => {
        count(key, startedAt);
        return value;
      },
      (error: unknown) => {
        count(`${key} (failed)`, startedAt);
        throw error;
      },
    );
  };
}
// find() and aggregate() return cursors; count them when they are created (their latency is not measured).
for (const method of ['find', 'aggregate']) {
  const original = Collection.prototype[method] as (...args: unknown[]) => unknown;
  Collection.prototype[method] = function (this: { collectionName: string }, ...args: unknown[]) {
    if (!insideFindOne) count(`mongo ${this.collectionName}.${method}`, performance.now());
    return original.apply(this, args);
  };
}

// Like mongoose above: the gateway's own ioredis (another tree's with --gateway-dir).
const redisRequire = createRequire(createRequire(path.join(process.cwd(), 'package.json')).resolve('ioredis'));
const Redis = redisRequire('ioredis') as { prototype: Record<string, unknown> };
const sendCommand = Redis.prototype.sendCommand as (command: { name: string; promise: Promise<unknown> }) => unknown;
Redis.prototype.sendCommand = function (this: unknown, command: { name: string; promise: Promise<unknown> }) {
  const startedAt = performance.now();
  const result = sendCommand.call(this, command);
  command.promise?.then(
    () => count(`redis ${command.name}`, startedAt),
    () => count(`redis ${command.name} (failed)`, startedAt),
  );
  return result;
};

let measuring = false;
process.on('SIGUSR2', () => {
  if (!measuring) {
    counts.clear();
    measuring = true;
    return;
  }
  measuring = false;
  if (file) writeFileSync(`${file}.${process.pid}`, JSON.stringify(Object.fromEntries(counts)));
});
