import type { ChildProcess } from 'node:child_process';
import { finished, spawnTs, waitForLine } from '../../test/support/process.js';
import { cpuSeconds, samplePeakRss } from './_proc.js';
import { spawnGateway } from './_stats.js';

/**
 * The benchmarked gateway's processes. Without `replicas`: one process in the `all` role (serve and work), from
 * this checkout or another one (`gatewayDir`). With `replicas` N: the work role in one process, started first (it
 * runs the migrations), and N serve processes behind one port (test/fixtures/serve-replicas.ts, node:cluster),
 * all from this checkout.
 */
export interface GatewayProcesses {
  url: string;
  /** Every process that runs gateway code (the cluster's primary only passes connections on). */
  pids: { all: number[]; serve: number[]; work?: number; primary?: number };
  /** To each process the benches signal (SIGUSR2 toggles the measured phase). */
  signal(signal: NodeJS.Signals): void;
  /** CPU seconds all of them used so far. */
  cpuSeconds(): number;
  /** Samples every serve process's RSS; `stop()` gives the highest peak, and the work process's. */
  sampleRss(): { stop(): { serve: number; work?: number } };
  /** Stops them; the last lines of their output when `failed`. */
  stop(failed?: boolean): Promise<string>;
}

export interface GatewayOptions {
  gatewayDir?: string;
  replicas?: number;
  env: Record<string, string | undefined>;
  nodeArgs: string[];
}

const tail = (text: string, lines: number) => text.split('\n').slice(-lines).join('\n');

export async function startGateway(options: GatewayOptions): Promise<GatewayProcesses> {
  const children: ChildProcess[] = [];
  const exits: Promise<{ stdout: string; stderr: string }>[] = [];
  const track = (child: ChildProcess) => {
    children.push(child);
    exits.push(finished(child, 3_600_000).catch(() => ({ stdout: '', stderr: '' })));
    return child;
  };
  const stop = async (failed = false) => {
    // A process that ended before it was asked to says how (a crash, or a signal from outside the bench).
    const endedEarly = children.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? `pid ${child.pid} had ended: code ${child.exitCode}, signal ${child.signalCode}\n`
        : '',
    );
    for (const child of children) child.kill('SIGTERM');
    const outputs = await Promise.all(exits);
    return failed ? outputs.map((o, i) => `${endedEarly[i]}${tail(o.stdout, 5)}\n${tail(o.stderr, 8)}`).join('\n') : '';
  };
  try {
    let url: string;
    let pids: GatewayProcesses['pids'];
    if (!options.replicas) {
      const server = track(spawnGateway(options.gatewayDir, [], options.env, options.nodeArgs));
      [, url] = await waitForLine(server, /listening (http:\S+)/, 60_000);
      pids = { all: [server.pid!], serve: [server.pid!] };
    } else {
      if (options.gatewayDir) throw new Error('--replicas runs this checkout only (its serve-replicas fixture)');
      // Two replicas must not each take the default ops port; a role of its own in each process.
      const env = { ...options.env, GATEWAY_OPS__PORT: '0' };
      const work = track(spawnTs('test/fixtures/serve-mdm.ts', [], { ...env, FIXTURE_ROLE: 'work' }, options.nodeArgs));
      await waitForLine(work, /^working$/m, 60_000);
      const primary = track(
        spawnTs(
          'test/fixtures/serve-replicas.ts',
          [],
          { ...env, SERVE_REPLICAS: String(options.replicas) },
          options.nodeArgs,
        ),
      );
      const [, listening, workers] = await waitForLine(primary, /cluster listening (http:\S+) workers (\S+)/, 90_000);
      url = listening;
      const serve = workers.split(',').map(Number);
      pids = { all: [primary.pid!, ...serve, work.pid!], serve, work: work.pid!, primary: primary.pid! };
    }
    return {
      url,
      pids,
      signal: (signal) => {
        for (const child of children) child.kill(signal);
      },
      cpuSeconds: () => pids.all.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
      sampleRss: () => {
        const serve = pids.serve.map((pid) => samplePeakRss(pid));
        const work = pids.work === undefined ? undefined : samplePeakRss(pids.work);
        return { stop: () => ({ serve: Math.max(...serve.map((s) => s.stop())), work: work?.stop() }) };
      },
      stop,
    };
  } catch (error) {
    console.error(`gateway output:\n${await stop(true)}`);
    throw error;
  }
}
