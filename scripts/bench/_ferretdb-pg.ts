/**
 * What FerretDB's PostgreSQL backend did for one benchmarked database: CPU of the PostgreSQL backends serving
 * it, and per-table scan and row counters. FerretDB 1.24 pushes a filter down as `_jsonb->'field' @> value`,
 * which no btree index serves, so every find, update and findAndModify is a sequential scan of its
 * collection's table: `seqScan` counts queries, `seqTupRead` the rows they read.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpuSeconds } from './_proc.js';

export interface TableCounters {
  seqScan: number;
  seqTupRead: number;
  idxScan: number;
  inserted: number;
  updated: number;
  deleted: number;
}

/** The PostgreSQL database behind a FerretDB process started with --postgresql-url, or undefined. */
export function postgresUrlOf(ferretDbPid: number | undefined): string | undefined {
  if (!ferretDbPid) return undefined;
  try {
    const args = readFileSync(`/proc/${ferretDbPid}/cmdline`, 'utf8').split('\0');
    // Without FerretDB's own pool settings (`?pool_max_conns=…`), which psql does not take.
    return args
      .find((a) => a.startsWith('--postgresql-url='))
      ?.slice('--postgresql-url='.length)
      .split('?')[0];
  } catch {
    return undefined;
  }
}

/** CPU seconds of every PostgreSQL backend connected to that database (its name is in their process title). */
export function postgresCpuSeconds(pgUrl: string): number {
  const database = new URL(pgUrl).pathname.slice(1);
  let total = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (title.startsWith('postgres:') && title.includes(` ${database} `)) total += cpuSeconds(Number(pid)) || 0;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** Per-collection counters of the MongoDB database `schema` (FerretDB keeps each database in a schema). */
export function tableCounters(pgUrl: string, schema: string): Record<string, TableCounters> {
  const query = `SELECT m._jsonb->>'_id', s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0), s.n_tup_ins, s.n_tup_upd, s.n_tup_del
    FROM pg_stat_user_tables s JOIN "${schema}"._ferretdb_database_metadata m ON m._jsonb->>'table' = s.relname
    WHERE s.schemaname = '${schema}'`;
  // Statistics reach the view with a delay; a fresh snapshot each call.
  const out = execFileSync('psql', [pgUrl, '-Atc', `SELECT pg_stat_clear_snapshot(); ${query}`], { encoding: 'utf8' });
  const counters: Record<string, TableCounters> = {};
  for (const line of out.split('\n').filter((l) => l.includes('|'))) {
    const [name, ...n] = line.split('|');
    const [seqScan, seqTupRead, idxScan, inserted, updated, deleted] = n.map(Number);
    counters[name] = { seqScan, seqTupRead, idxScan, inserted, updated, deleted };
  }
  return counters;
}

export function counterDelta(
  after: Record<string, TableCounters>,
  before: Record<string, TableCounters>,
): Record<string, TableCounters> {
  const delta: Record<string, TableCounters> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name];
    const d = Object.fromEntries(
      Object.entries(a).map(([k, v]) => [k, v - (b?.[k as keyof TableCounters] ?? 0)]),
    ) as unknown as TableCounters;
    if (Object.values(d).some((v) => v !== 0)) delta[name] = d;
  }
  return delta;
}

/**
 * Mean stored size of each collection's rows, and how many are compressed or moved out of line (TOAST): a scan
 * has to decompress those to read any field, which multiplies its cost.
 */
export function rowSizes(
  pgUrl: string,
  schema: string,
  collections: readonly string[],
): Record<string, { rows: number; meanBytes: number; toasted: number }> {
  const sizes: Record<string, { rows: number; meanBytes: number; toasted: number }> = {};
  for (const collection of collections) {
    const table = execFileSync(
      'psql',
      [
        pgUrl,
        '-Atc',
        `SELECT _jsonb->>'table' FROM "${schema}"._ferretdb_database_metadata WHERE _jsonb->>'_id' = '${collection}'`,
      ],
      { encoding: 'utf8' },
    ).trim();
    if (!table) continue;
    // Uncompressed jsonb is its text length or more; a smaller stored size means pglz compressed it.
    const out = execFileSync(
      'psql',
      [
        pgUrl,
        '-Atc',
        `SELECT count(*), coalesce(avg(pg_column_size(_jsonb)), 0)::int,
           count(*) FILTER (WHERE pg_column_size(_jsonb) < octet_length(_jsonb::text) / 2 OR pg_column_size(_jsonb) > 2000)
         FROM "${schema}"."${table}"`,
      ],
      { encoding: 'utf8' },
    ).trim();
    const [rows, meanBytes, toasted] = out.split('|').map(Number);
    sizes[collection] = { rows, meanBytes, toasted };
  }
  return sizes;
}
