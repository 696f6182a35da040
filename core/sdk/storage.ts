import type { Connection, Model, Schema } from 'mongoose';

/**
 * How many write statements go to the database in one command. FerretDB 1.24 (the test database) keeps a
 * PostgreSQL connection for each statement of an update command that matched a document until the whole command
 * ends: a bulkWrite of more than its pool (50) such statements waits for itself forever (measured: 49 replaceOne
 * statements on existing documents return, 51 never do). MongoDB does not care; 32 keeps every caller well clear.
 */
export const BULK_WRITE_CHUNK = 32;

/**
 * Sends `ops` through `write` at most `size` at a time, one chunk after another. For writes whose order across
 * chunks does not matter beyond "all of them", as with bulkWrite's `ordered: false`.
 */
export async function bulkWriteInChunks<Op>(
  ops: readonly Op[],
  write: (chunk: Op[]) => Promise<unknown>,
  size = BULK_WRITE_CHUNK,
): Promise<void> {
  for (let from = 0; from < ops.length; from += size) await write(ops.slice(from, from + size));
}

/**
 * The connection's model of that name, defined with `schema` the first time: every store of a plugin, and a test
 * that builds a store twice on one connection, share one model (mongoose refuses to define a name twice). A
 * function is called only when the model is defined.
 */
export function modelOn<T>(connection: Connection, name: string, schema: Schema<T> | (() => Schema<T>)): Model<T> {
  const existing = connection.models[name] as Model<T> | undefined;
  return existing ?? connection.model<T>(name, typeof schema === 'function' ? schema() : schema);
}
