/**
 * CPU of one database's PostgreSQL backends over a measured phase, counting backends that exit during it.
 * A client that opens and closes connections (NanoMDM v0.9.0 keeps database/sql's default of 2 idle
 * connections, so with more concurrent requests than that every extra connection is a new backend process that
 * soon exits) takes its backends' CPU with them: a before/after reading of the live ones (postgresCpuSeconds)
 * misses it, and even goes down when a backend alive at the start is gone at the end. So the backends are
 * sampled from /proc every `intervalMs`, and each one counts with its last reading (a lower bound: what a backend
 * used after its last sample, or in a life shorter than the interval, is missed); the postmaster's reaped-children
 * CPU, less what was seen of other databases' processes, gives the upper bound.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpuSeconds } from './_proc.js';

export interface BackendCpuTracker {
  /** CPU seconds this database's backends used since the tracker started (exited ones as last sampled). */
  read(): number;
  /**
   * An upper bound for what this database's exited backends used: the postmaster's reaped-children CPU since
   * the start, less what was seen of every other database's exited processes (their unseen rest stays in).
   */
  exitedUpperBound(): number;
  /** Backends of this database seen exiting since the tracker started. */
  exited(): number;
  /** The part of read() that backends which exited used (up to their last sample). */
  exitedSeconds(): number;
  stop(): void;
}

/** CPU seconds of the children a process has waited for (cutime + cstime), from /proc. */
function reapedChildrenSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return Number.NaN;
  }
}

function parentOf(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return Number.NaN;
  }
}

/** One process title the tracker has judged: a PostgreSQL process at all, and one serving this database. */
interface Judged {
  postgres: boolean;
  ours: boolean;
}

export function trackBackendCpu(pgUrl: string, intervalMs = 25): BackendCpuTracker {
  const database = new URL(pgUrl).pathname.slice(1);
  // Every PostgreSQL process's first and last reading (first is 0 for one born after the start): this
  // database's give read(); every other's that exits is subtracted from the postmaster's reaped CPU.
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const gone = new Set<number>();
  // Each pid's command line is read once: a backend's title names its database for its whole life.
  const judged = new Map<number, Judged>();
  let postmaster = Number.NaN;
  const judge = (pid: number): Judged => {
    let verdict = judged.get(pid);
    if (verdict === undefined) {
      let title = '';
      try {
        title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        // gone meanwhile
      }
      const postgres = title.startsWith('postgres:');
      verdict = { postgres, ours: postgres && title.includes(` ${database} `) };
      judged.set(pid, verdict);
    }
    return verdict;
  };
  const sample = (starting: boolean) => {
    const alive = new Set<number>();
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || !judge(pid).postgres) continue;
      const seconds = cpuSeconds(pid);
      if (Number.isNaN(seconds)) continue;
      alive.add(pid);
      if (!first.has(pid)) first.set(pid, starting ? seconds : 0);
      last.set(pid, seconds);
      if (Number.isNaN(postmaster)) postmaster = parentOf(pid);
    }
    for (const pid of last.keys()) if (!alive.has(pid)) gone.add(pid);
  };
  sample(true);
  const reapedBefore = reapedChildrenSeconds(postmaster);
  const timer = setInterval(() => sample(false), intervalMs);
  const ours = (pid: number) => judged.get(pid)?.ours === true;
  return {
    read() {
      sample(false);
      let total = 0;
      for (const [pid, seconds] of last) if (ours(pid)) total += seconds - (first.get(pid) ?? 0);
      return total;
    },
    exitedUpperBound() {
      // The postmaster counts a reaped process's whole life: take off, for this database's, what they had used
      // before the start, and for every other database's, all that was seen of them.
      let reaped = reapedChildrenSeconds(postmaster) - reapedBefore;
      for (const pid of gone) reaped -= ours(pid) ? (first.get(pid) ?? 0) : (last.get(pid) ?? 0);
      return reaped;
    },
    exited: () => [...gone].filter(ours).length,
    exitedSeconds() {
      let total = 0;
      for (const pid of gone) if (ours(pid)) total += (last.get(pid) ?? 0) - (first.get(pid) ?? 0);
      return total;
    },
    stop: () => clearInterval(timer),
  };
}
