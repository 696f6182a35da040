import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What _count-db-ops.ts counted (it is preloaded into the gateway; importing it here would patch this process). */
export type OpCounts = Record<string, { calls: number; ms: number }>;

/** The counts every process of a gateway wrote for `file` ($DB_OPS_FILE), summed. */
export function readOpCounts(file: string): OpCounts {
  const sums: OpCounts = {};
  const dir = path.dirname(file);
  for (const name of readdirSync(dir).filter((n) => n.startsWith(`${path.basename(file)}.`))) {
    const counts = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as OpCounts;
    for (const [key, { calls, ms }] of Object.entries(counts)) {
      const sum = (sums[key] ??= { calls: 0, ms: 0 });
      sum.calls += calls;
      sum.ms += ms;
    }
  }
  return sums;
}
