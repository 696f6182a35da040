import { spawn } from 'node:child_process';
import path from 'node:path';
import { spawnTs } from '../../test/support/process.js';
/** Percentiles in milliseconds from a list of durations in milliseconds. */
export function percentiles(samples: number[]): { p50: number; p90: number; p99: number; max: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  const mean = sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length);
  return {
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1] ?? 0),
    mean: round(mean),
  };
}

export function textOption(args: string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
}

/**
 * The benchmarked gateway (test/fixtures/serve-mdm.ts) in its own process, from this checkout or from `dir`
 * (another checkout of the project, to compare code side by side with the same client).
 */
export function spawnGateway(
  dir: string | undefined,
  args: string[],
  env: Record<string, string | undefined>,
  nodeArgs: string[],
) {
  if (!dir) return spawnTs('test/fixtures/serve-mdm.ts', args, env, nodeArgs);
  const root = path.resolve(dir);
  return spawn(
    process.execPath,
    [...nodeArgs, '--conditions=source', '--import', 'tsx', path.join(root, 'test/fixtures/serve-mdm.ts'), ...args],
    { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

export function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
}

export const rssMb = () => Math.round((process.memoryUsage().rss / 1048576) * 10) / 10;

/**
 * The simulated fleet comes from one address, like devices behind one NAT: the per-client rate limits on the
 * enrollment link, SCEP and device routes are raised past what a bench sends; the per-identity (per-key) limits,
 * and so their Redis cost on every device request, stay as configured.
 */
export const ONE_CLIENT_MANY_DEVICES: Record<string, string> = {
  GATEWAY_RATE_LIMITS__ENROLLMENT_LINK__PER_CLIENT__POINTS: '100000000',
  GATEWAY_RATE_LIMITS__SCEP__PER_CLIENT__POINTS: '100000000',
  GATEWAY_RATE_LIMITS__DEVICE__PER_CLIENT__POINTS: '100000000',
};
