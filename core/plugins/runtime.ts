import {
  type AwilixContainer,
  Lifetime as AwilixLifetime,
  asFunction,
  asValue,
  createContainer,
  InjectionMode,
} from 'awilix';
import type { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import type { Logger } from 'pino';
import type { EventBus } from '../events/bus.js';
import type { MetricsHub } from '../metrics.js';
import type { QueueHub } from '../queues.js';
import type { RedisFactory } from '../redis.js';
import { coreServices } from '../sdk/core-services.js';
import { GatewayError } from '../sdk/errors.js';
import type { Contribution, GatewayInfo, KeyVault, Lifetime, PluginContext } from '../sdk/plugin.js';
import type { RateLimits } from '../sdk/rate-limit.js';
import type { ExtensionPointRef, ServiceRef } from '../sdk/refs.js';
import type { PluginDeclarations } from './registry.js';

export class ServiceResolutionError extends GatewayError {}

export interface KernelParts {
  logger: Logger;
  metrics: MetricsHub;
  events: EventBus;
  mongo: Connection;
  redis: Redis;
  redisFactory: RedisFactory;
  keyVault: KeyVault;
  rateLimits: RateLimits;
  queues: QueueHub;
  gateway: GatewayInfo;
  redisPrefix: string;
}

const lifetimes: Record<Lifetime, (typeof AwilixLifetime)[keyof typeof AwilixLifetime]> = {
  singleton: AwilixLifetime.SINGLETON,
  scoped: AwilixLifetime.SCOPED,
  transient: AwilixLifetime.TRANSIENT,
};

const CORE = 'core';

/**
 * The awilix container (strict mode) holding every declared service, and one context per plugin.
 * A plugin may only resolve services of plugins it depends on, which keeps the start order honest.
 */
export class PluginRuntime {
  readonly container: AwilixContainer;
  private readonly providers = new Map<string, string>();
  private readonly contexts = new Map<string, PluginContext<unknown>>();
  private readonly contributions = new Map<string, Contribution<unknown>[]>();

  constructor(
    private readonly plugins: readonly PluginDeclarations[],
    private readonly kernel: KernelParts,
  ) {
    this.container = createContainer({ injectionMode: InjectionMode.PROXY, strict: true });
    this.container.register(coreServices.keyVault.id, asValue(kernel.keyVault));
    this.providers.set(coreServices.keyVault.id, CORE);
    for (const plugin of plugins) {
      const context = this.buildContext(plugin);
      this.contexts.set(plugin.definition.name, context);
      for (const service of plugin.services) {
        this.providers.set(service.ref.id, plugin.definition.name);
        let resolver = asFunction(() => service.factory(context)).setLifetime(lifetimes[service.lifetime]);
        if (service.dispose) resolver = resolver.disposer(service.dispose as (value: unknown) => Promise<void>);
        this.container.register(service.ref.id, resolver);
      }
      for (const { event, handler } of plugin.handlers) {
        this.kernel.events.subscribe({
          plugin: plugin.definition.name,
          event,
          handler: (payload, meta) => handler(payload, context, meta),
        });
      }
    }
  }

  contextOf(plugin: string): PluginContext<unknown> {
    const context = this.contexts.get(plugin);
    if (!context) throw new ServiceResolutionError('plugin_unknown', `plugin "${plugin}" is not loaded`);
    return context;
  }

  /** Runs every contribution factory; done before any plugin starts, so owners see them all in onStart. */
  materializeContributions(): void {
    for (const plugin of this.plugins) {
      for (const { ref, factory } of plugin.contributions) {
        const list = this.contributions.get(ref.id) ?? [];
        list.push({ plugin: plugin.definition.name, value: factory(this.contextOf(plugin.definition.name)) });
        this.contributions.set(ref.id, list);
      }
    }
  }

  private allowedProviders(plugin: PluginDeclarations): Set<string> {
    const { definition } = plugin;
    return new Set([CORE, definition.name, ...(definition.dependsOn ?? []), ...(definition.optionalDependsOn ?? [])]);
  }

  private buildContext(plugin: PluginDeclarations): PluginContext<unknown> {
    const { definition } = plugin;
    const allowed = this.allowedProviders(plugin);
    const kernel = this.kernel;
    const tryResolve = <T>(ref: ServiceRef<T>): T | undefined => {
      const provider = this.providers.get(ref.id);
      if (!provider) return undefined;
      if (!allowed.has(provider)) {
        throw new ServiceResolutionError(
          'service_undeclared_dependency',
          `plugin "${definition.name}" uses service "${ref.id}" of plugin "${provider}" without depending on it`,
        );
      }
      return this.container.resolve<T>(ref.id);
    };
    return {
      plugin: { name: definition.name, version: definition.version },
      config: plugin.config,
      gateway: kernel.gateway,
      // The serializer pins the label: a plugin cannot log lines that look like another plugin's.
      logger: kernel.logger.child({ plugin: definition.name }, { serializers: { plugin: () => definition.name } }),
      metrics: kernel.metrics.forPlugin(definition.name),
      events: kernel.events.publisherFor(definition.name, definition.emits ?? []),
      mongo: kernel.mongo,
      redis: kernel.redis,
      redisKeyPrefix: `${kernel.redisPrefix}:${definition.name}:`,
      createRedis: (purpose: string) => kernel.redisFactory.create(`${definition.name}:${purpose}`),
      keyVault: kernel.keyVault,
      rateLimits: kernel.rateLimits,
      resolve: <T>(ref: ServiceRef<T>): T => {
        const service = tryResolve(ref);
        if (service === undefined) {
          throw new ServiceResolutionError(
            'service_missing',
            `plugin "${definition.name}" needs service "${ref.id}", which no enabled plugin provides`,
          );
        }
        return service;
      },
      tryResolve,
      extensions: <T>(ref: ExtensionPointRef<T>) => (this.contributions.get(ref.id) ?? []) as Contribution<T>[],
      queue: (name: string) => kernel.queues.handle(name),
    };
  }

  async dispose(): Promise<void> {
    await this.container.dispose();
  }
}
