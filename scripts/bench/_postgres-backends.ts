/**
 * CPU of one database's PostgreSQL backends over a measured phase, counting backends that exit during it.
 * A client that opens and closes connections (NanoMDM v0.9.0 keeps database/sql's default of 2 idle
 * connections, so with more concurrent requests than that every extra connection is a new backend process that
 * soon exits) takes its backends' CPU with them: a before/after reading of the live ones (postgresCpuSeconds)
 * misses it, and even goes down when a backend alive at the start is gone at the end. So the backends are
 * sampled from /proc every `intervalMs`, and each one counts with its last reading; what a backend used after its
 * last sample is missed, and the postmaster's reaped-children CPU (every database's exited backends, an upper
 * bound for this one's) is read alongside.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpuSeconds } from './_proc.js';

export interface BackendCpuTracker {
  /** CPU seconds this database's backends used since the tracker started (exited ones as last sampled). */
  read(): number;
  /** CPU seconds of every backend the postmaster reaped since the tracker started, any database. */
  reapedAnyDatabase(): number;
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

export function trackBackendCpu(pgUrl: string, intervalMs = 50): BackendCpuTracker {
  const database = new URL(pgUrl).pathname.slice(1);
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const gone = new Set<number>();
  // Each pid's command line is read once: a backend's title names its database for its whole life.
  const judged = new Map<number, boolean>();
  let postmaster = Number.NaN;
  const sample = (starting: boolean) => {
    const alive = new Set<number>();
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid)) continue;
      let ours = judged.get(pid);
      if (ours === undefined) {
        try {
          const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          ours = title.startsWith('postgres:') && title.includes(` ${database} `);
        } catch {
          ours = false;
        }
        judged.set(pid, ours);
      }
      if (!ours) continue;
      const seconds = cpuSeconds(pid);
      if (Number.isNaN(seconds)) continue;
      alive.add(pid);
      // A backend born after the start used all of its CPU inside the phase.
      if (!first.has(pid)) first.set(pid, starting ? seconds : 0);
      last.set(pid, seconds);
      if (Number.isNaN(postmaster)) postmaster = parentOf(pid);
    }
    for (const pid of last.keys()) if (!alive.has(pid)) gone.add(pid);
  };
  sample(true);
  const reapedAtStart = () => reapedChildrenSeconds(postmaster);
  let reapedBefore = reapedAtStart();
  const timer = setInterval(() => {
    sample(false);
    if (Number.isNaN(reapedBefore)) reapedBefore = reapedAtStart();
  }, intervalMs);
  return {
    read() {
      sample(false);
      let total = 0;
      for (const [pid, seconds] of last) total += seconds - (first.get(pid) ?? 0);
      return total;
    },
    reapedAnyDatabase: () => reapedChildrenSeconds(postmaster) - reapedBefore,
    exited: () => gone.size,
    exitedSeconds() {
      let total = 0;
      for (const pid of gone) total += (last.get(pid) ?? 0) - (first.get(pid) ?? 0);
      return total;
    },
    stop: () => clearInterval(timer),
  };
}
