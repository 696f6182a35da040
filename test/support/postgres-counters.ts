/**
 * What PostgreSQL itself counted for the collections of one MongoDB database served by FerretDB's PostgreSQL
 * backend (pg_stat_user_tables): sequential scans and the rows they read, index scans. FerretDB keeps each
 * database in a schema of that name and maps collections to tables in its metadata table.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ScanCounters {
  seqScan: number;
  seqTupRead: number;
  idxScan: number;
}

/** The PostgreSQL URL behind the FerretDB process listening on the port of `mongodbUri`, or undefined. */
export function postgresBehind(mongodbUri: string): string | undefined {
  const port = new URL(mongodbUri).port;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!args[0]?.includes('ferretdb') || !args.some((a) => a.endsWith(`:${port}`))) continue;
      // Without FerretDB's own pool settings (`?pool_max_conns=…`), which psql does not take.
      return args
        .find((a) => a.startsWith('--postgresql-url='))
        ?.slice('--postgresql-url='.length)
        .split('?')[0];
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Per-collection counters of the MongoDB database `schema`. */
export function scanCounters(pgUrl: string, schema: string): Record<string, ScanCounters> {
  const query = `SELECT m._jsonb->>'_id', s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0)
    FROM pg_stat_user_tables s JOIN "${schema}"._ferretdb_database_metadata m ON m._jsonb->>'table' = s.relname
    WHERE s.schemaname = '${schema}'`;
  const out = execFileSync('psql', [pgUrl, '-Atc', `SELECT pg_stat_clear_snapshot(); ${query}`], { encoding: 'utf8' });
  const counters: Record<string, ScanCounters> = {};
  for (const line of out.split('\n').filter((l) => l.includes('|'))) {
    const [name, seqScan, seqTupRead, idxScan] = line.split('|');
    counters[name] = { seqScan: Number(seqScan), seqTupRead: Number(seqTupRead), idxScan: Number(idxScan) };
  }
  return counters;
}

/**
 * The counters once every PostgreSQL backend has reported what it did: a backend reports at the end of a
 * transaction at most once a second, and otherwise after 10 s idle, so this waits those 10 s.
 */
export async function settledCounters(pgUrl: string, schema: string): Promise<Record<string, ScanCounters>> {
  await new Promise((resolve) => setTimeout(resolve, 10_500));
  return scanCounters(pgUrl, schema);
}
