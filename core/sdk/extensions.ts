import type { PluginContext } from './plugin.js';
import type { ExtensionPointRef } from './refs.js';

export interface ExtensionOutcome<R> {
  plugin: string;
  value: R;
}

/**
 * Asks every contribution to an extension point, isolated: one that throws (or takes longer than
 * `timeoutMs`) is logged, counted in `gateway_extension_failures_total{point,contributor}` and left out,
 * so a partner's bug never breaks the request or the worker that asked. Veto points must not use this:
 * they fail closed (see VetoError).
 */
export async function collectExtensions<T, R>(
  ctx: Pick<PluginContext<unknown>, 'extensions' | 'logger' | 'metrics'>,
  point: ExtensionPointRef<T>,
  call: (value: T) => Promise<Awaited<R>>,
  options: { timeoutMs?: number } = {},
): Promise<ExtensionOutcome<R>[]> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const failures = ctx.metrics.counter('extension_failures_total', 'Extension contributions that threw or timed out', [
    'point',
    'contributor',
  ]);
  const settled = await Promise.all(
    ctx.extensions(point).map(async (contribution) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        });
        const value: R = await Promise.race([call(contribution.value), timeout]);
        return { plugin: contribution.plugin, value } as ExtensionOutcome<R>;
      } catch (error) {
        failures.inc({ point: point.id, contributor: contribution.plugin });
        ctx.logger.error({ err: error, point: point.id, contributor: contribution.plugin }, 'extension failed');
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return settled.filter((outcome): outcome is ExtensionOutcome<R> => outcome !== undefined);
}
