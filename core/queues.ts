import { type Job, type JobsOptions, Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { RedisFactory } from './redis.js';
import { GatewayError } from './sdk/errors.js';
import type { PluginContext, QueueDefinition, QueueHandle } from './sdk/plugin.js';

export class QueueError extends GatewayError {}

interface DeclaredQueue {
  plugin: string;
  definition: Omit<QueueDefinition<unknown, unknown>, 'processor'>;
  /** Runs a job; plugin queues get their plugin's context, core queues need none. */
  run: (job: Job, contextFor: (plugin: string) => PluginContext<unknown>, token?: string) => Promise<unknown>;
  /** The processor logs its own failures (core queues): no generic "job failed" line. */
  quiet?: boolean;
}

/** A queue of the kernel itself (event delivery, its sweep). */
export interface CoreQueueDefinition extends Omit<QueueDefinition<unknown, unknown>, 'processor'> {
  /** `token` is the worker's lock on the job, which moving it back to delayed needs. */
  processor: (job: Job, token?: string) => Promise<unknown>;
}

const CORE = 'core';

export interface QueueMetrics {
  jobs: Counter<'plugin' | 'queue' | 'outcome'>;
  duration: Histogram<'plugin' | 'queue'>;
  depth: Gauge<'plugin' | 'queue' | 'state'>;
}

/**
 * Every BullMQ queue and worker is made here so prefixes, connections and metrics are uniform.
 * Producers share one connection; each worker gets its own with maxRetriesPerRequest: null.
 */
export class QueueHub {
  private readonly declared = new Map<string, DeclaredQueue>();
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private producerConnection?: ReturnType<RedisFactory['create']>;

  constructor(
    private readonly redis: RedisFactory,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  declare(plugin: string, definition: QueueDefinition<unknown, unknown>): void {
    this.add({ plugin, definition, run: (job, contextFor) => definition.processor(job, contextFor(plugin)) });
  }

  declareCore(definition: CoreQueueDefinition): void {
    this.add({
      plugin: CORE,
      definition,
      run: (job, _contextFor, token) => definition.processor(job, token),
      quiet: true,
    });
  }

  private add(declared: DeclaredQueue): void {
    const { plugin, definition } = declared;
    const existing = this.declared.get(definition.name);
    if (existing) {
      throw new QueueError(
        'queue_duplicate',
        `queue "${definition.name}" is declared by both "${existing.plugin}" and "${plugin}"`,
      );
    }
    this.declared.set(definition.name, declared);
  }

  names(): string[] {
    return [...this.declared.keys()];
  }

  private queue(name: string): Queue {
    const declared = this.declared.get(name);
    if (!declared) throw new QueueError('queue_unknown', `queue "${name}" is not declared by any enabled plugin`);
    let queue = this.queues.get(name);
    if (!queue) {
      this.producerConnection ??= this.redis.create('queue-producer');
      queue = new Queue(name, {
        connection: this.producerConnection,
        prefix: this.prefix,
        defaultJobOptions: {
          removeOnComplete: { age: 3_600, count: 10_000 },
          removeOnFail: { age: 7 * 24 * 3_600 },
          ...declared.definition.defaultJobOptions,
        },
      });
      queue.on('error', (error) => this.logger.warn({ queue: name, err: { message: error.message } }, 'queue error'));
      this.queues.set(name, queue);
    }
    return queue;
  }

  handle<T>(name: string): QueueHandle<T> {
    const hub = this;
    return {
      name,
      get queue() {
        return hub.queue(name) as unknown as Queue<T>;
      },
      add: (jobName: string, data: T, options?: JobsOptions) =>
        hub.queue(name).add(jobName, data as never, options) as unknown as Promise<Job<T>>,
    };
  }

  startWorkers(contextFor: (plugin: string) => PluginContext<unknown>, metrics: QueueMetrics): void {
    for (const [name, { plugin, definition, run, quiet }] of this.declared) {
      const worker = new Worker(
        name,
        async (job: Job, token?: string) => {
          const stop = metrics.duration.startTimer({ plugin, queue: name });
          try {
            return await run(job, contextFor, token);
          } finally {
            stop();
          }
        },
        {
          connection: this.redis.createForWorker(`worker:${name}`),
          prefix: this.prefix,
          concurrency: definition.concurrency ?? 1,
          limiter: definition.limiter,
          ...definition.worker,
        },
      );
      worker.on('completed', () => metrics.jobs.inc({ plugin, queue: name, outcome: 'completed' }));
      worker.on('failed', (job, error) => {
        metrics.jobs.inc({ plugin, queue: name, outcome: 'failed' });
        if (quiet) return;
        this.logger.warn({ plugin, queue: name, jobId: job?.id, err: { message: error.message } }, 'job failed');
      });
      worker.on('error', (error) => this.logger.warn({ queue: name, err: { message: error.message } }, 'worker error'));
      this.workers.push(worker);
    }
  }

  /** Queue depth for /metrics, read on scrape. */
  async collectDepth(depth: QueueMetrics['depth']): Promise<void> {
    await Promise.all(
      [...this.declared].map(async ([name, { plugin }]) => {
        const counts = await this.queue(name).getJobCounts('wait', 'active', 'delayed', 'failed');
        for (const [state, value] of Object.entries(counts)) depth.set({ plugin, queue: name, state }, value);
      }),
    );
  }

  /** Stops taking jobs and waits for the ones in flight (BullMQ's Worker.close). */
  async closeWorkers(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((worker) => worker.close()));
  }

  async close(): Promise<void> {
    await this.closeWorkers();
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}
