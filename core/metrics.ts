import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PluginMetrics } from './sdk/plugin.js';

/** One registry per gateway instance, so two instances in one process (tests) never collide. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  // prom-client adds gauges named *_total (sums of the labelled gauges beside them); in Prometheus's naming
  // `_total` means a counter, so they go: sum(gateway_nodejs_active_handles) is the same number.
  for (const kind of ['resources', 'handles', 'requests'])
    registry.removeSingleMetric(`gateway_nodejs_active_${kind}_total`);
  return registry;
}

type Metric = Counter<string> | Gauge<string> | Histogram<string>;

/**
 * Metrics are shared by name across plugins (one prom-client metric per name) and every
 * series carries the `plugin` label of the plugin that recorded it.
 */
export class MetricsHub {
  private readonly metrics = new Map<string, Metric>();
  constructor(readonly registry: Registry) {}

  private getOrCreate<M extends Metric>(name: string, create: () => M, kind: string): M {
    const existing = this.metrics.get(name);
    if (existing) {
      if ((existing as { constructor: { name: string } }).constructor.name !== kind) {
        throw new TypeError(`metric ${name} already exists with another type`);
      }
      return existing as M;
    }
    const metric = create();
    this.metrics.set(name, metric);
    return metric;
  }

  forPlugin(plugin: string): PluginMetrics {
    const full = (name: string) => (name.startsWith('gateway_') ? name : `gateway_${name}`);
    const bind = <M extends Metric>(metric: M): M => {
      const labelled = Object.create(metric) as Record<string, unknown>;
      for (const method of ['inc', 'dec', 'set', 'observe', 'startTimer', 'labels'] as const) {
        const original = (metric as unknown as Record<string, unknown>)[method];
        if (typeof original !== 'function') continue;
        labelled[method] = (...args: unknown[]) => {
          // The kernel records on behalf of plugins (HTTP routes, queues), so only its labels may name one.
          const label = (given: object) => (plugin === 'core' ? { plugin, ...given } : { ...given, plugin });
          if (method === 'labels') return (original as (l: object) => unknown).call(metric, label(args[0] as object));
          const [first, ...rest] = args;
          if (typeof first === 'object' && first !== null)
            return (original as (...a: unknown[]) => unknown).call(metric, label(first), ...rest);
          return (original as (...a: unknown[]) => unknown).call(metric, { plugin }, ...args);
        };
      }
      return labelled as unknown as M;
    };
    return {
      counter: (name, help, labelNames = []) =>
        bind(
          this.getOrCreate(
            full(name),
            () =>
              new Counter({
                name: full(name),
                help,
                labelNames: ['plugin', ...labelNames],
                registers: [this.registry],
              }),
            'Counter',
          ),
        ),
      gauge: (name, help, labelNames = []) =>
        bind(
          this.getOrCreate(
            full(name),
            () =>
              new Gauge({ name: full(name), help, labelNames: ['plugin', ...labelNames], registers: [this.registry] }),
            'Gauge',
          ),
        ),
      histogram: (name, help, labelNames = [], buckets) =>
        bind(
          this.getOrCreate(
            full(name),
            () =>
              new Histogram({
                name: full(name),
                help,
                labelNames: ['plugin', ...labelNames],
                ...(buckets ? { buckets } : {}),
                registers: [this.registry],
              }),
            'Histogram',
          ),
        ),
    } as PluginMetrics;
  }
}
