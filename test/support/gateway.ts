import { Writable } from 'node:stream';
import pino from 'pino';
import { type Gateway, loadGateway } from '../../core/gateway.js';
import { listBuiltInPlugins } from '../../core/plugins/discover.js';
import type { PluginDefinition, Role } from '../../core/sdk/index.js';
import { testMasterKey, testServices, uniqueDatabaseUri, uniqueRedisPrefix } from './services.js';

export interface TestGatewayOptions {
  label: string;
  role?: Role;
  plugins?: readonly PluginDefinition[];
  /** Built-in plugins (folders under plugins/) to enable by name. */
  enable?: readonly string[];
  /** Config layered over the test defaults (plugins.<name> sections, publicUrl …). */
  config?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  mongodbUri?: string;
  redisUrl?: string;
  redisPrefix?: string;
}

export interface TestGateway {
  gateway: Gateway;
  url: string;
  mongodbUri: string;
  redisPrefix: string;
  /** Log lines the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The ops listener (/healthz, /readyz, /metrics), never the public one. */
  opsUrl: string;
  /** Prometheus text of the ops listener's /metrics. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the real gateway (HTTP on a free port) against the test MongoDB-wire server and Redis. */
export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const services = testServices();
  const mongodbUri = options.mongodbUri ?? uniqueDatabaseUri(options.label);
  const redisPrefix = options.redisPrefix ?? uniqueRedisPrefix(options.label);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        logs.push(JSON.parse(line));
        if (process.env.TEST_LOG_ECHO) process.stderr.write(`${line}\n`);
      }
      callback();
    },
  });
  const gateway = await loadGateway({
    role: options.role ?? 'all',
    env: { MONGODB_URI: mongodbUri, REDIS_URL: options.redisUrl ?? services.redisUrl, ...options.env },
    overrides: deepMergeConfig(
      {
        publicUrl: 'https://gateway.test',
        http: { host: '127.0.0.1', port: 0, shutdownGraceMs: 5_000 },
        ops: { host: '127.0.0.1', port: 0 },
        redis: { prefix: redisPrefix },
        security: { masterKey: testMasterKey },
        log: { level: process.env.TEST_LOG_LEVEL ?? 'info' },
        // Every test client is 127.0.0.1; rate-limit tests turn the limits on with the figures they test.
        rateLimits: { enabled: false },
        // Only the built-ins a test names run; config/default.yaml enables them all for production.
        plugins: Object.fromEntries([
          ...listBuiltInPlugins()
            .filter((name) => !(options.plugins ?? []).some((p) => p.name === name))
            .map((name) => [name, { enabled: (options.enable ?? []).includes(name), ...TEST_PLUGIN_DEFAULTS[name] }]),
          // A fixture may stand in for a built-in that config/default.yaml disables.
          ...(options.plugins ?? []).map((p) => [p.name, { enabled: true }]),
        ]),
      },
      options.config ?? {},
    ),
    plugins: options.plugins,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'info' }, sink),
  });
  await gateway.start();
  const url = options.role === 'work' ? gateway.opsUrl : gateway.url;
  return {
    gateway,
    url,
    mongodbUri,
    redisPrefix,
    logs,
    fetch: (path, init) => fetch(`${url}${path}`, init),
    opsUrl: gateway.opsUrl,
    metrics: async () => {
      const res = await fetch(`${gateway.opsUrl}/metrics`);
      if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
      return res.text();
    },
    stop: () => gateway.stop(),
  };
}

/** Settings every test gateway starts with: devices' last check-in reaches the database within a second. */
const TEST_PLUGIN_DEFAULTS: Record<string, Record<string, unknown>> = { mdm: { presenceFlushSeconds: 1 } };

function deepMergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      current &&
      typeof current === 'object' &&
      !Array.isArray(current)
        ? deepMergeConfig(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
