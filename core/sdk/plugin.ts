import type Router from '@koa/router';
import type { Job, JobsOptions, Queue, WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type Koa from 'koa';
import type { Connection } from 'mongoose';
import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { z } from 'zod';
import type { DomainEventName, DomainEvents, EventMeta, EventPublisher } from './events.js';
import type { RateLimits } from './rate-limit.js';
import type { ExtensionPointRef, ServiceRef } from './refs.js';

export type Lifetime = 'singleton' | 'scoped' | 'transient';

/** What the gateway process runs: HTTP, BullMQ workers, or both. */
export type Role = 'serve' | 'work' | 'all';

/** Public, non-secret settings every plugin may read. */
export interface GatewayInfo {
  /** External https URL devices and browsers use, without a trailing slash. */
  readonly publicUrl: string;
  /** The organisation's name (core setting `organizationName`), for pages, profiles and certificates. */
  readonly organizationName: string;
  readonly role: Role;
  readonly coreApiVersion: string;
}

export interface PluginMetrics {
  /** Metrics carry a constant `plugin` label; names are prefixed with `gateway_`. */
  counter<L extends string>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string>(name: string, help: string, labelNames?: readonly L[], buckets?: number[]): Histogram<L>;
}

/** Envelope encryption of secrets at rest under the configured master key. */
export interface KeyVault {
  /** Encrypts with the current master key; `context` is authenticated and must match on open. */
  seal(plaintext: Buffer, context: string): string;
  open(sealed: string, context: string): Buffer;
  /** True when the value was sealed under an older master key and should be re-sealed. */
  needsRotation(sealed: string): boolean;
}

export interface ServiceResolver {
  resolve<T>(ref: ServiceRef<T>): T;
  /** Undefined when no enabled plugin provides the service. */
  tryResolve<T>(ref: ServiceRef<T>): T | undefined;
}

export interface QueueHandle<T> {
  readonly name: string;
  /** The BullMQ queue; available once the gateway has started. */
  readonly queue: Queue<T>;
  add(jobName: string, data: T, options?: JobsOptions): Promise<Job<T>>;
}

export interface PluginContext<C = unknown> extends ServiceResolver {
  readonly plugin: { readonly name: string; readonly version: string };
  readonly config: C;
  readonly gateway: GatewayInfo;
  readonly logger: Logger;
  readonly metrics: PluginMetrics;
  readonly events: EventPublisher;
  /** The kernel's mongoose connection; define models on it with `mongo.model(...)`. */
  readonly mongo: Connection;
  /** A shared ioredis client for commands (not for blocking calls or subscriptions). */
  readonly redis: Redis;
  /** Prefix for this plugin's own Redis keys: "<redis.prefix>:<plugin>:". */
  readonly redisKeyPrefix: string;
  /** A new ioredis connection the caller owns (subscriptions, blocking commands); close it on stop. */
  createRedis(purpose: string): Redis;
  readonly keyVault: KeyVault;
  /** Rate limits shared by every replica (`rateLimit(ctx, policy)` as route middleware); see rate-limit.ts. */
  readonly rateLimits: RateLimits;
  /** Contributions made by any plugin to an extension point this plugin owns or reads. */
  extensions<T>(ref: ExtensionPointRef<T>): readonly Contribution<T>[];
  queue<T>(name: string): QueueHandle<T>;
}

export interface Contribution<T> {
  readonly plugin: string;
  readonly value: T;
}

export interface QueueDefinition<T, C> {
  /** Unique across the gateway; BullMQ prefixes it with the configured queue prefix. */
  name: string;
  processor: (job: Job<T>, ctx: PluginContext<C>) => Promise<unknown>;
  concurrency?: number;
  limiter?: WorkerOptions['limiter'];
  defaultJobOptions?: JobsOptions;
  /** Extra BullMQ worker settings (lock duration, stalled interval …). */
  worker?: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount' | 'drainDelay'>;
}

export interface RouteDefinition<C> {
  /** Where the plugin's router is mounted, e.g. "/mdm"; "" mounts at the root. */
  prefix: string;
  /**
   * Largest request body these routes accept (default: `http.bodyLimitBytes`). The core refuses a larger
   * Content-Length with 413 before any route runs, and `readRawBody`/`readJsonBody` read at most this much.
   */
  bodyLimitBytes?: number;
  mount(router: PluginRouter, ctx: PluginContext<C>): void;
}

export interface CliCommand<C> {
  /** Space-separated words after `gateway`, e.g. "admin create-api-key". */
  name: string;
  description: string;
  // biome-ignore lint/suspicious/noConfusingVoidType: a command may end without an exit code
  run(args: readonly string[], ctx: PluginContext<C>, io: CliIO): Promise<number | void>;
}

export interface CliIO {
  out(line: string): void;
  err(line: string): void;
}

export type Hook<C> = (ctx: PluginContext<C>) => Promise<void> | void;

/**
 * A change to the plugin's stored data, run once across all replicas at start, before any start hook, under a lock.
 * Versions are 1, 2, 3 … per plugin; the highest applied one is the plugin's schema version in the database, and
 * a gateway whose plugin knows fewer versions refuses to start on it. `up` must be safe to run again: it is
 * recorded only after it succeeded.
 */
export interface Migration<C> {
  version: number;
  description: string;
  up(ctx: PluginContext<C>): Promise<void>;
}

export type EventHandler<K extends DomainEventName, C> = (
  payload: DomainEvents[K],
  ctx: PluginContext<C>,
  meta: EventMeta,
) => Promise<void> | void;

/**
 * The only thing `register` may do: declare. Nothing runs until every plugin has been checked.
 * docs/plugins.md has the full reference; in short, what fails where:
 * - an event handler that throws is logged, counted and retried later (at-least-once delivery);
 * - an isolated extension call that throws is logged, counted and skipped;
 * - a veto contribution that throws anything but VetoError refuses the operation (fail closed);
 * - a start hook or a contribution factory that throws stops start-up with one line naming the plugin.
 */
export interface PluginRegistrar<C> {
  /** This plugin's config section, validated by its own schema (defaults applied, unknown keys refused). */
  readonly config: C;
  /** A service other plugins resolve through `ref` (they must list this plugin in dependsOn). */
  provide<T>(
    ref: ServiceRef<T>,
    factory: (ctx: PluginContext<C>) => T,
    options?: { lifetime?: Lifetime; dispose?: (service: T) => Promise<void> | void },
  ): void;
  /** HTTP routes (roles serve and all), on a router of the plugin's own under `prefix`. */
  routes(definition: RouteDefinition<C>): void;
  /** A BullMQ queue; its worker runs in roles work and all, `ctx.queue(name).add` works everywhere. */
  queue<T>(definition: QueueDefinition<T, C>): void;
  /**
   * Runs `handler` for every domain event of that name, in a worker (roles work and all), after the event
   * was recorded. Delivery is at-least-once: a handler that throws, or runs longer than
   * `events.handlerTimeoutMs`, is counted (`gateway_hook_failures_total{plugin,hook="event:<name>"}`) and
   * run again later with the same `meta.eventId`; it never fails the emitter. Once it succeeds for an
   * event, it is not run for that event again. Make its effect idempotent by `meta.eventId`.
   */
  on<K extends DomainEventName>(event: K, handler: EventHandler<K, C>): void;
  /** Declares an extension point this plugin owns (one owner per point). */
  extensionPoint<T>(ref: ExtensionPointRef<T>): void;
  /**
   * Adds a contribution to an extension point; the factory runs once, before any plugin starts.
   * Contributing to another plugin's point requires listing it in dependsOn or optionalDependsOn.
   */
  contribute<T>(ref: ExtensionPointRef<T>, contribution: (ctx: PluginContext<C>) => T): void;
  /** Runs at start, dependencies first; throwing stops start-up. */
  onStart(hook: Hook<C>): void;
  /** Runs at shutdown, in reverse order; a throwing stop hook is logged and the others still run. */
  onStop(hook: Hook<C>): void;
  /** A `gateway <words>` command. */
  command(command: CliCommand<C>): void;
  /** A data migration (see Migration); run at start, once, before start hooks. */
  migration(migration: Migration<C>): void;
  /** A check `/readyz` runs; throw to report not ready. */
  readiness(name: string, check: (ctx: PluginContext<C>) => Promise<void>): void;
}

export interface PluginDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  version: string;
  /** Semver range of the core plugin API this plugin supports, e.g. "^2.0.0". */
  coreApi: string;
  dependsOn?: readonly string[];
  /** Plugins used when present; they are started first if enabled. */
  optionalDependsOn?: readonly string[];
  description?: string;
  /** Schema of `plugins.<name>` in the config, defaults included. Must be a z.object. */
  config?: S;
  /** Events this plugin emits; emitting another one is an error. */
  emits?: readonly DomainEventName[];
  register(api: PluginRegistrar<z.output<S>>): void;
}

/** Identity helper that keeps the config type flowing into `register`. */
export function definePlugin<S extends z.ZodType>(definition: PluginDefinition<S>): PluginDefinition<S> {
  return definition;
}

export interface GatewayState {
  requestId: string;
  log: Logger;
  [key: string]: unknown;
}

export type GatewayContext = Koa.DefaultContext;

/** The router a plugin's `routes({ mount })` receives; route modules take this type, so no cast is needed. */
export type PluginRouter = Router<GatewayState, GatewayContext>;
