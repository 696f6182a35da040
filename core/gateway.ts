import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mongoose, { type Connection } from 'mongoose';
import pino, { type Logger } from 'pino';
import { ConfigSource, type Env, maskSecrets } from './config/load.js';
import { type CoreConfig, coreConfigSchema } from './config/schema.js';
import { listLeaves } from './config/tree.js';
import { coreMigrations } from './core-migrations.js';
import { EventBus } from './events/bus.js';
import { EventOutbox } from './events/outbox.js';
import { createHttpApp } from './http/app.js';
import { OpenStreams } from './http/open-streams.js';
import { createOpsApp, type OpsEndpoints } from './http/ops.js';
import { lazyKeyVault } from './key-vault.js';
import { createLogger } from './logger.js';
import { createRegistry, MetricsHub } from './metrics.js';
import { runMigrations } from './migrations.js';
import { checkAndOrder } from './plugins/check.js';
import {
  builtInPluginsDir,
  type DiscoveredPlugin,
  importBuiltIn,
  importPackage,
  listBuiltInPlugins,
} from './plugins/discover.js';
import {
  checkDeclarations,
  collectDeclarations,
  type PluginDeclarations,
  withDependencies,
} from './plugins/registry.js';
import { PluginRuntime } from './plugins/runtime.js';
import { QueueHub } from './queues.js';
import { RedisRateLimits } from './rate-limits.js';
import { RedisFactory, redactUrl, withTimeout } from './redis.js';
import { ConfigError, GatewayError } from './sdk/errors.js';
import type { CliCommand, GatewayInfo, PluginDefinition, Role } from './sdk/plugin.js';
import { CORE_API_VERSION } from './sdk/version.js';
import { drainServer } from './shutdown.js';

export class StartupError extends GatewayError {}

/** Directory holding package.json and config/, in source and in the build alike. */
export function findAppRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json')) || !existsSync(path.join(dir, 'config'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

export interface GatewayOptions {
  role: Role | 'cli';
  env?: Env;
  /** Config values layered over the files (tests, embedding). */
  overrides?: Record<string, unknown>;
  /** Plugins given as definitions (tests, embedding); they are enabled unless config disables them. */
  plugins?: readonly PluginDefinition[];
  builtInDir?: string;
  appRoot?: string;
  logger?: Logger;
}

/** Loads config and plugins, checks everything, and collects declarations. Touches no database. */
export async function loadGateway(options: GatewayOptions): Promise<Gateway> {
  const appRoot = options.appRoot ?? findAppRoot();
  const source = new ConfigSource({ appRoot, env: options.env ?? process.env, overrides: options.overrides });
  const config = source.core();
  // A CLI command's stdout is its output (a key, JSON): its logs go to stderr.
  const logger =
    options.logger ?? createLogger(config.log.level, options.role === 'cli' ? pino.destination(2) : undefined);
  const builtInDir = options.builtInDir ?? builtInPluginsDir;
  const builtIns = new Set(listBuiltInPlugins(builtInDir));
  const inline = options.plugins ?? [];
  const inlineNames = new Set(inline.map((definition) => definition.name));

  const discovered: DiscoveredPlugin[] = [];
  for (const [name, section] of Object.entries(config.plugins)) {
    if (section.enabled !== true || inlineNames.has(name)) continue;
    if (!builtIns.has(name)) {
      if (config.pluginPackages.length === 0)
        throw new ConfigError(`plugin "${name}": enabled in config but not found in plugins/`);
      continue;
    }
    discovered.push(await importBuiltIn(name, builtInDir));
  }
  for (const packageName of config.pluginPackages) {
    const plugin = await importPackage(packageName, appRoot);
    if (config.plugins[plugin.definition.name]?.enabled !== false) discovered.push(plugin);
  }
  for (const definition of inline) {
    if (config.plugins[definition.name]?.enabled !== false) discovered.push({ definition, source: 'inline' });
  }
  for (const [name, section] of Object.entries(config.plugins)) {
    if (section.enabled === true && !discovered.some((p) => p.definition.name === name)) {
      throw new ConfigError(`plugin "${name}": enabled in config but not found in plugins/ or pluginPackages`);
    }
  }

  const ordered = checkAndOrder(discovered, CORE_API_VERSION);
  const declarations = ordered.map((definition) =>
    collectDeclarations(
      definition,
      source.plugin(definition.name, definition.config, config.plugins[definition.name] ?? {}),
    ),
  );
  checkDeclarations(declarations);
  source.assertNoUnknownEnv();
  return new Gateway(options.role, config, declarations, logger);
}

export class Gateway {
  private runtime?: PluginRuntime;
  private mongo?: Connection;
  private redisFactory?: RedisFactory;
  private queues?: QueueHub;
  private events?: EventBus;
  private server?: http.Server;
  private opsServer?: http.Server;
  private readonly streams = new OpenStreams();
  private started = false;
  /** Plugins whose start hooks ran, in start order; a CLI command starts only its plugin and dependencies. */
  private startedPlugins: readonly PluginDeclarations[] = [];
  private draining = false;
  private stopping?: Promise<void>;

  constructor(
    readonly role: Role | 'cli',
    readonly config: CoreConfig,
    readonly plugins: readonly PluginDeclarations[],
    readonly logger: Logger,
  ) {}

  get pluginNames(): string[] {
    return this.plugins.map((p) => p.definition.name);
  }

  /** The listening address, e.g. http://127.0.0.1:41234 (tests use port 0). */
  get url(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (!address) throw new GatewayError('not_listening', 'the HTTP server is not listening');
    return `http://127.0.0.1:${address.port}`;
  }

  get opsUrl(): string {
    const address = this.opsServer?.address() as AddressInfo | null;
    if (!address) throw new GatewayError('not_listening', 'the ops server is not listening');
    return `http://127.0.0.1:${address.port}`;
  }

  commands(): { plugin: string; command: CliCommand<unknown> }[] {
    return this.plugins.flatMap((p) => p.commands.map((command) => ({ plugin: p.definition.name, command })));
  }

  /** The effective config, secrets masked: core settings plus each plugin's validated section. */
  effectiveConfig(): Record<string, unknown> {
    const plugins: Record<string, unknown> = {};
    let leaves = listLeaves(coreConfigSchema);
    for (const plugin of this.plugins) {
      plugins[plugin.definition.name] = { enabled: true, ...(plugin.config as object) };
      if (plugin.definition.config)
        leaves = leaves.concat(listLeaves(plugin.definition.config, ['plugins', plugin.definition.name]));
    }
    return maskSecrets({ ...this.config, plugins }, leaves);
  }

  context(plugin: string) {
    if (!this.runtime) throw new GatewayError('not_started', 'the gateway has not started');
    return this.runtime.contextOf(plugin);
  }

  /**
   * Connects, starts plugins and, by role, the HTTP server and workers. `only` names the plugins to start
   * (with everything they depend on); the CLI uses it so a command starts what it needs and nothing more.
   */
  async start(options: { only?: readonly string[] } = {}): Promise<void> {
    if (this.started) return;
    const { config, logger } = this;
    const registry = createRegistry();
    const metrics = new MetricsHub(registry);
    const coreMetrics = metrics.forPlugin('core');
    const hookFailures = coreMetrics.counter('hook_failures_total', 'Plugin hooks and handlers that threw', ['hook']);

    this.mongo = await connectMongo(config);
    this.redisFactory = new RedisFactory(config.redis.url, logger);
    const redis = this.redisFactory.create('shared');
    try {
      await withTimeout(redis.ping(), 5_000, 'Redis ping');
    } catch (error) {
      await this.closeConnections();
      throw new StartupError(
        'redis_unreachable',
        `cannot reach Redis at ${redactUrl(config.redis.url)}: ${(error as Error).message}`,
      );
    }
    this.queues = new QueueHub(this.redisFactory, config.redis.prefix, logger);
    for (const plugin of this.plugins)
      for (const queue of plugin.queues) this.queues.declare(plugin.definition.name, queue);

    const events = new EventBus({
      outbox: new EventOutbox(this.mongo),
      queues: this.queues,
      redis,
      keyPrefix: `${config.redis.prefix}:`,
      logger,
      failures: hookFailures as never,
      settings: config.events,
    });
    events.declareQueues();
    this.events = events;

    const gatewayInfo: GatewayInfo = {
      publicUrl: config.publicUrl,
      organizationName: config.organizationName,
      role: this.role === 'cli' ? 'all' : this.role,
      coreApiVersion: CORE_API_VERSION,
    };
    this.runtime = new PluginRuntime(this.plugins, {
      logger,
      metrics,
      events,
      mongo: this.mongo,
      redis,
      redisFactory: this.redisFactory,
      keyVault: lazyKeyVault(config),
      rateLimits: new RedisRateLimits(
        redis,
        config.rateLimits,
        `${config.redis.prefix}:`,
        coreMetrics.counter('rate_limited_total', 'Requests refused by a rate limit', ['policy', 'scope']),
        logger,
      ),
      queues: this.queues,
      gateway: gatewayInfo,
      redisPrefix: config.redis.prefix,
    });
    const runtime = this.runtime;
    runtime.materializeContributions();
    await runMigrations(
      this.mongo,
      [
        { owner: 'core', migrations: coreMigrations(this.mongo) },
        ...this.plugins.map((plugin) => ({
          owner: plugin.definition.name,
          migrations: plugin.migrations.map((migration) => ({
            ...migration,
            up: () => migration.up(runtime.contextOf(plugin.definition.name)),
          })),
        })),
      ],
      logger,
    ).catch(async (error: unknown) => {
      await this.closeConnections();
      throw error;
    });
    const runsWorkers = this.role === 'work' || this.role === 'all';
    await events.start(runsWorkers);
    this.startedPlugins = options.only ? withDependencies(this.plugins, options.only) : this.plugins;
    for (const plugin of this.startedPlugins) {
      for (const hook of plugin.startHooks) await hook(runtime.contextOf(plugin.definition.name));
    }

    const queueMetrics = {
      jobs: coreMetrics.counter('queue_jobs_total', 'BullMQ jobs finished', ['queue', 'outcome']),
      duration: coreMetrics.histogram('queue_job_duration_seconds', 'BullMQ job processing time', ['queue']),
      depth: coreMetrics.gauge('queue_depth', 'BullMQ jobs by state (read on scrape)', ['queue', 'state']),
    };
    const queues = this.queues;
    const ops: OpsEndpoints = {
      registry,
      isDraining: () => this.draining,
      readiness: () => this.readiness(redis),
      beforeScrape: () =>
        withTimeout(queues.collectDepth(queueMetrics.depth as never), 1_000, 'queue depth').catch(() => undefined),
    };
    if (runsWorkers) {
      this.queues.startWorkers((plugin) => runtime.contextOf(plugin), queueMetrics as never);
    }
    if (this.role === 'serve' || this.role === 'all') {
      const app = createHttpApp({
        config,
        logger,
        ops,
        streams: this.streams,
        metrics: {
          requests: coreMetrics.counter('http_requests_total', 'HTTP requests', ['method', 'route', 'status']) as never,
          duration: coreMetrics.histogram('http_request_duration_seconds', 'HTTP request duration', [
            'method',
            'route',
          ]) as never,
        },
        routes: this.plugins.flatMap((p) =>
          p.routes.map((route) => ({
            plugin: p.definition.name,
            route,
            context: runtime.contextOf(p.definition.name),
          })),
        ),
      });
      this.server = await listen(app.callback(), config.http.host, config.http.port);
    }
    if (this.role !== 'cli') {
      const opsApp = createOpsApp({ ops, logger, metricsToken: config.ops.metricsToken });
      this.opsServer = await listen(opsApp.callback(), config.ops.host, config.ops.port);
    }
    this.started = true;
    logger.info(
      {
        role: this.role,
        plugins: this.startedPlugins.map((plugin) => plugin.definition.name),
        port: this.server ? (this.server.address() as AddressInfo).port : undefined,
        opsPort: this.opsServer ? (this.opsServer.address() as AddressInfo).port : undefined,
      },
      'gateway started',
    );
  }

  private async readiness(redis: import('ioredis').Redis): Promise<Record<string, string>> {
    if (!this.started) throw new Error('plugins not started');
    const checks: Record<string, string> = {};
    if (this.mongo?.readyState !== 1) throw new Error('mongodb not connected');
    await withTimeout(this.mongo.db!.admin().ping(), 1_000, 'mongodb ping').catch((error: Error) => {
      throw new Error(`mongodb: ${error.message}`);
    });
    checks.mongodb = 'ok';
    if (redis.status !== 'ready') throw new Error(`redis: ${redis.status}`);
    await withTimeout(redis.ping(), 1_000, 'redis ping').catch((error: Error) => {
      throw new Error(`redis: ${error.message}`);
    });
    checks.redis = 'ok';
    for (const plugin of this.plugins) {
      for (const { name, check } of plugin.readiness) {
        await withTimeout(check(this.context(plugin.definition.name)), 2_000, name).catch((error: Error) => {
          throw new Error(`${plugin.definition.name}/${name}: ${error.message}`);
        });
        checks[`${plugin.definition.name}/${name}`] = 'ok';
      }
    }
    return checks;
  }

  /** Graceful stop: refuse new work, drain requests and jobs, stop plugins, close connections. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.draining = true;
    // Event streams never finish by themselves: end them first, so clients reconnect elsewhere and the drain
    // waits only for ordinary requests.
    const streams = this.streams.size;
    this.streams.closeAll();
    if (streams > 0) this.logger.info({ streams }, 'closed event streams');
    const grace = this.config.http.shutdownGraceMs;
    await Promise.all([
      this.server && drainServer(this.server, grace),
      this.opsServer && drainServer(this.opsServer, grace),
    ]);
    this.events?.stop();
    await this.queues?.closeWorkers();
    if (this.runtime) {
      for (const plugin of [...this.startedPlugins].reverse()) {
        for (const hook of plugin.stopHooks) {
          try {
            await hook(this.runtime.contextOf(plugin.definition.name));
          } catch (error) {
            this.logger.error({ err: error, plugin: plugin.definition.name }, 'stop hook failed');
          }
        }
      }
      await this.runtime.dispose();
    }
    await this.queues?.close();
    await this.closeConnections();
    this.started = false;
    this.logger.info('gateway stopped');
  }

  private async closeConnections(): Promise<void> {
    await this.redisFactory?.closeAll();
    await this.mongo?.close().catch(() => undefined);
  }
}

async function connectMongo(config: CoreConfig): Promise<Connection> {
  const connection = mongoose.createConnection(config.mongodb.uri, {
    serverSelectionTimeoutMS: config.mongodb.serverSelectionTimeoutMs,
    autoIndex: true,
  });
  try {
    await connection.asPromise();
    return connection;
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw new StartupError(
      'mongodb_unreachable',
      `cannot reach MongoDB at ${redactUrl(config.mongodb.uri)}: ${(error as Error).message}`,
    );
  }
}

function listen(handler: http.RequestListener, host: string, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    // Keep-alive outlives the idle timeout of proxies in front (typically 60 s), so they never reuse a socket we are closing.
    const server = http.createServer(
      { keepAliveTimeout: 65_000, headersTimeout: 20_000, requestTimeout: 30_000 },
      handler,
    );
    server.once('error', (error) =>
      reject(new StartupError('listen_failed', `cannot listen on ${host}:${port}: ${error.message}`)),
    );
    server.listen(port, host, () => resolve(server));
  });
}
