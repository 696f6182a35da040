import { GatewayError, VetoError } from './errors.js';
import type { PluginContext } from './plugin.js';
import type { ExtensionPointRef } from './refs.js';
import { withTimeout } from './timeout.js';

export interface ExtensionOutcome<R> {
  plugin: string;
  value: R;
}

type ExtensionCaller = Pick<PluginContext<unknown>, 'extensions' | 'logger' | 'metrics'>;

const DEFAULT_TIMEOUT_MS = 5_000;

function failureCounter(ctx: ExtensionCaller) {
  return ctx.metrics.counter('extension_failures_total', 'Extension contributions that threw or timed out', [
    'point',
    'contributor',
  ]);
}

/**
 * Asks every contribution to an extension point, isolated: one that throws (or takes longer than
 * `timeoutMs`) is logged, counted in `gateway_extension_failures_total{point,contributor}` and left out,
 * so a partner's bug never breaks the request or the worker that asked. Veto points must not use this:
 * they fail closed (see askVetoPoint).
 */
export async function collectExtensions<T, R>(
  ctx: ExtensionCaller,
  point: ExtensionPointRef<T>,
  call: (value: T) => Promise<Awaited<R>>,
  options: { timeoutMs?: number } = {},
): Promise<ExtensionOutcome<R>[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const failures = failureCounter(ctx);
  const settled = await Promise.all(
    ctx.extensions(point).map(async (contribution) => {
      try {
        const value: R = await withTimeout(
          () => call(contribution.value),
          timeoutMs,
          `${contribution.plugin} (${point.id})`,
        );
        return { plugin: contribution.plugin, value } as ExtensionOutcome<R>;
      } catch (error) {
        failures.inc({ point: point.id, contributor: contribution.plugin });
        ctx.logger.error({ err: error, point: point.id, contributor: contribution.plugin }, 'extension failed');
        return undefined;
      }
    }),
  );
  return settled.filter((outcome): outcome is ExtensionOutcome<R> => outcome !== undefined);
}

/**
 * A contribution to a veto point failed (threw something other than VetoError, or did not answer in time).
 * The owner must refuse the operation — a broken policy never lets something through — and tell the user
 * to try again later; `detail` names the plugin and is safe to show, the cause goes to the log only.
 */
export class ExtensionFailedError extends GatewayError {
  constructor(
    readonly plugin: string,
    readonly point: string,
    options?: { cause?: unknown },
  ) {
    super('extension_failed', `the ${plugin} plugin could not answer (${point})`, options);
  }

  static override is(value: unknown): value is ExtensionFailedError {
    return GatewayError.is(value) && (value as GatewayError).code === 'extension_failed';
  }
}

/**
 * Asks the contributions of a veto point one after another, failing closed. A contribution vetoes by
 * throwing VetoError(plugin, userMessage): that VetoError is rethrown as is, so the owner can show
 * `userMessage`. Any other error or a timeout is logged, counted in
 * `gateway_extension_failures_total{point,contributor}` and rethrown as ExtensionFailedError. Vetoes are
 * counted in `gateway_extension_vetoes_total{point,contributor}`. Returns every contribution's answer.
 */
export async function askVetoPoint<T, R>(
  ctx: ExtensionCaller,
  point: ExtensionPointRef<T>,
  call: (value: T) => Promise<Awaited<R>>,
  options: { timeoutMs?: number } = {},
): Promise<ExtensionOutcome<R>[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const outcomes: ExtensionOutcome<R>[] = [];
  for (const contribution of ctx.extensions(point)) {
    try {
      const value: R = await withTimeout(
        () => call(contribution.value),
        timeoutMs,
        `${contribution.plugin} (${point.id})`,
      );
      outcomes.push({ plugin: contribution.plugin, value });
    } catch (error) {
      const labels = { point: point.id, contributor: contribution.plugin };
      if (VetoError.is(error)) {
        ctx.metrics
          .counter('extension_vetoes_total', 'Operations refused by a veto contribution', ['point', 'contributor'])
          .inc(labels);
        ctx.logger.info({ ...labels, userMessage: error.userMessage }, 'vetoed');
        throw error;
      }
      failureCounter(ctx).inc(labels);
      ctx.logger.error({ err: error, ...labels }, 'veto contribution failed; refusing (fail closed)');
      throw new ExtensionFailedError(contribution.plugin, point.id, { cause: error });
    }
  }
  return outcomes;
}
