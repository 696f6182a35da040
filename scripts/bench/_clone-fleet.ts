/**
 * Grows a benchmark database to a fleet size by copying the records of devices that enrolled for real
 * (binding, certificates, lifecycle facts, presence, inventory, push credentials, proven identity bindings,
 * enrollments, commands and their results) under fresh ids. The copies never poll: they are the rest of a fleet
 * whose records every scan reads and every index holds, while the enrolled devices are measured.
 */
import { createHash } from 'node:crypto';
import type { Connection } from 'mongoose';
import mongoose from 'mongoose';

export const FLEET_COLLECTIONS = [
  'mdm_devices',
  'mdm_certificates',
  'mdm_lifecycle',
  'mdm_presence',
  'mdm_inventory',
  'mdm_push_credentials',
  'mdm_identity_bindings',
  'mdm_enrollments',
  'mdm_commands',
  'mdm_command_results',
] as const;

// Id-like pieces of a string (split on ':'): hex ids, UDIDs, UUIDs, base64url tokens and hashes.
const ID_LIKE = /^(?:[0-9a-fA-F-]{16,}|[A-Za-z0-9_-]{20,}={0,2})$/;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same id in copy `k`: same length and character classes, so ObjectIds, UDIDs and hashes stay valid. */
function copyId(token: string, k: number): string {
  const digest = createHash('sha512').update(`${token}:${k}`).digest();
  let out = '';
  for (let i = 0; i < token.length; i++) {
    const c = token[i];
    const byte = digest[i % digest.length] ^ (i >> 6);
    if (/[0-9a-f]/.test(c)) out += (byte & 15).toString(16);
    else if (/[A-F]/.test(c)) out += (byte & 15).toString(16).toUpperCase();
    else if (/[A-Za-z0-9_]/.test(c)) out += B64[byte & 63];
    else out += c;
  }
  return out;
}

function copyValue(value: unknown, k: number): unknown {
  if (typeof value === 'string')
    return value
      .split(':')
      .map((piece) => (ID_LIKE.test(piece) ? copyId(piece, k) : piece))
      .join(':');
  if (value instanceof mongoose.Types.ObjectId) return new mongoose.Types.ObjectId(copyId(value.toHexString(), k));
  if (Array.isArray(value)) return value.map((v) => copyValue(v, k));
  if (value && typeof value === 'object' && value.constructor === Object)
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, copyValue(v, k)]));
  return value;
}

/**
 * Adds copies of the records of the `enrolled` devices (the database's own, not earlier copies) until it holds
 * `total` devices (rounded up to whole copies of the enrolled fleet). Returns the number of copies made so far.
 */
export async function growFleet(uri: string, total: number, copiesSoFar: number): Promise<number> {
  const conn: Connection = await mongoose.createConnection(uri).asPromise();
  try {
    const originals = new Map<string, Record<string, unknown>[]>();
    for (const name of FLEET_COLLECTIONS)
      originals.set(
        name,
        await conn
          .collection(name)
          .find({ benchCopy: { $exists: false } })
          .toArray(),
      );
    const enrolled = originals.get('mdm_devices')?.length ?? 0;
    if (enrolled === 0) throw new Error('no enrolled devices to copy');
    const copies = Math.ceil(total / enrolled) - 1;
    for (let k = copiesSoFar + 1; k <= copies; k++) {
      for (const name of FLEET_COLLECTIONS) {
        const docs = originals.get(name) ?? [];
        if (docs.length === 0) continue;
        await conn.collection(name).insertMany(
          docs.map((d) => ({ ...(copyValue(d, k) as Record<string, unknown>), benchCopy: k })),
          { ordered: false },
        );
      }
    }
    return Math.max(copies, copiesSoFar);
  } finally {
    await conn.close();
  }
}
