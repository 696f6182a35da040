import { PluginLoadError } from '../sdk/errors.js';
import type { DomainEventName } from '../sdk/events.js';
import type {
  CliCommand,
  EventHandler,
  Hook,
  Lifetime,
  Migration,
  PluginContext,
  PluginDefinition,
  PluginRegistrar,
  QueueDefinition,
  RouteDefinition,
} from '../sdk/plugin.js';
import type { ExtensionPointRef, ServiceRef } from '../sdk/refs.js';

export interface ServiceDeclaration {
  ref: ServiceRef<unknown>;
  factory: (ctx: PluginContext<unknown>) => unknown;
  lifetime: Lifetime;
  dispose?: (service: unknown) => Promise<void> | void;
}

/** Everything one plugin declared in `register`. */
export interface PluginDeclarations {
  definition: PluginDefinition;
  config: unknown;
  services: ServiceDeclaration[];
  routes: RouteDefinition<unknown>[];
  queues: QueueDefinition<unknown, unknown>[];
  handlers: { event: DomainEventName; handler: EventHandler<DomainEventName, unknown> }[];
  ownedPoints: ExtensionPointRef<unknown>[];
  contributions: { ref: ExtensionPointRef<unknown>; factory: (ctx: PluginContext<unknown>) => unknown }[];
  startHooks: Hook<unknown>[];
  stopHooks: Hook<unknown>[];
  commands: CliCommand<unknown>[];
  migrations: Migration<unknown>[];
  readiness: { name: string; check: (ctx: PluginContext<unknown>) => Promise<void> }[];
}

/** Runs `register` with a registrar that only records; calling it after registration is an error. */
export function collectDeclarations(definition: PluginDefinition, config: unknown): PluginDeclarations {
  const declarations: PluginDeclarations = {
    definition,
    config,
    services: [],
    routes: [],
    queues: [],
    handlers: [],
    ownedPoints: [],
    contributions: [],
    startHooks: [],
    stopHooks: [],
    commands: [],
    migrations: [],
    readiness: [],
  };
  let open = true;
  const guard =
    <A extends unknown[]>(what: string, fn: (...args: A) => void) =>
    (...args: A) => {
      if (!open) throw new PluginLoadError(definition.name, `called ${what}() after register() returned`);
      fn(...args);
    };
  const registrar: PluginRegistrar<unknown> = {
    config,
    provide: guard('provide', (ref, factory, options) => {
      declarations.services.push({
        ref: ref as ServiceRef<unknown>,
        factory: factory as ServiceDeclaration['factory'],
        lifetime: options?.lifetime ?? 'singleton',
        dispose: options?.dispose as ServiceDeclaration['dispose'],
      });
    }),
    routes: guard('routes', (route) => {
      if (route.prefix !== '' && !/^\/[a-z0-9/_-]*[a-z0-9_-]$/i.test(route.prefix)) {
        throw new PluginLoadError(
          definition.name,
          `route prefix "${route.prefix}" must be "" or start with "/" and not end with "/"`,
        );
      }
      declarations.routes.push(route);
    }),
    queue: guard('queue', (queue) => {
      declarations.queues.push(queue as QueueDefinition<unknown, unknown>);
    }),
    on: guard('on', (event, handler) => {
      declarations.handlers.push({ event, handler: handler as EventHandler<DomainEventName, unknown> });
    }),
    extensionPoint: guard('extensionPoint', (ref) => {
      declarations.ownedPoints.push(ref as ExtensionPointRef<unknown>);
    }),
    contribute: guard('contribute', (ref, factory) => {
      declarations.contributions.push({
        ref: ref as ExtensionPointRef<unknown>,
        factory: factory as (ctx: PluginContext<unknown>) => unknown,
      });
    }),
    onStart: guard('onStart', (hook) => declarations.startHooks.push(hook)),
    onStop: guard('onStop', (hook) => declarations.stopHooks.push(hook)),
    command: guard('command', (command) => declarations.commands.push(command)),
    readiness: guard('readiness', (name, check) => declarations.readiness.push({ name, check })),
    migration: guard('migration', (migration) => {
      const { version } = migration;
      if (!Number.isInteger(version) || version < 1 || declarations.migrations.some((m) => m.version === version)) {
        throw new PluginLoadError(
          definition.name,
          `migration version ${version} must be a whole number ≥ 1, used once`,
        );
      }
      declarations.migrations.push(migration as Migration<unknown>);
    }),
  };
  const result = definition.register(registrar as PluginRegistrar<never>) as unknown;
  open = false;
  if (result && typeof (result as Promise<unknown>).then === 'function') {
    throw new PluginLoadError(definition.name, 'register() must be synchronous: it only declares; do work in onStart');
  }
  return declarations;
}

/** Cross-plugin checks on the declarations: unique services, queues and extension point owners. */
export function checkDeclarations(all: readonly PluginDeclarations[]): void {
  const services = new Map<string, string>();
  const points = new Map<string, string>();
  const commands = new Map<string, string>();
  for (const { definition, services: declared, ownedPoints, commands: cli } of all) {
    for (const { ref } of declared) {
      const other = services.get(ref.id);
      if (other)
        throw new PluginLoadError(definition.name, `provides service "${ref.id}", already provided by "${other}"`);
      services.set(ref.id, definition.name);
    }
    for (const ref of ownedPoints) {
      const other = points.get(ref.id);
      if (other)
        throw new PluginLoadError(definition.name, `owns extension point "${ref.id}", already owned by "${other}"`);
      points.set(ref.id, definition.name);
    }
    for (const command of cli) {
      const other = commands.get(command.name);
      if (other)
        throw new PluginLoadError(definition.name, `adds command "${command.name}", already added by "${other}"`);
      commands.set(command.name, definition.name);
    }
  }
  for (const { definition, contributions } of all) {
    for (const { ref } of contributions) {
      const owner = points.get(ref.id);
      if (!owner) continue;
      const allowed = [...(definition.dependsOn ?? []), ...(definition.optionalDependsOn ?? []), definition.name];
      if (!allowed.includes(owner)) {
        throw new PluginLoadError(
          definition.name,
          `contributes to "${ref.id}" of plugin "${owner}" without depending on it`,
        );
      }
    }
  }
}

/** `names` and, transitively, the enabled plugins they depend on, in the gateway's start order. */
export function withDependencies(
  plugins: readonly PluginDeclarations[],
  names: readonly string[],
): PluginDeclarations[] {
  const byName = new Map(plugins.map((plugin) => [plugin.definition.name, plugin]));
  const wanted = new Set<string>();
  const visit = (name: string) => {
    const plugin = byName.get(name);
    if (!plugin || wanted.has(name)) return;
    wanted.add(name);
    for (const dependency of [...(plugin.definition.dependsOn ?? []), ...(plugin.definition.optionalDependsOn ?? [])])
      visit(dependency);
  };
  for (const name of names) visit(name);
  return plugins.filter((plugin) => wanted.has(plugin.definition.name));
}
