import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export function rssMbOf(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return Math.round(Number(line?.split(/\s+/)[1]) / 102.4) / 10;
  } catch {
    return Number.NaN;
  }
}

/** Samples a process's RSS every interval; `stop()` returns the peak in MB. */
export function samplePeakRss(pid: number, intervalMs = 100): { stop(): number } {
  let peak = rssMbOf(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMbOf(pid));
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMbOf(pid));
    },
  };
}
