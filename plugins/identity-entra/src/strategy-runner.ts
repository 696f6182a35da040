import type { Strategy } from 'passport';

/** How a passport strategy ended one `authenticate` call. */
export type StrategyOutcome =
  | { kind: 'success'; user: unknown; info?: unknown }
  | { kind: 'fail'; challenge?: unknown; status?: number }
  | { kind: 'redirect'; url: string }
  | { kind: 'error'; error: Error }
  | { kind: 'pass' };

/** The request shape passport strategies read (Express-like): query, body, headers, session. */
export interface StrategyRequest {
  query: Record<string, unknown>;
  body?: Record<string, unknown>;
  headers: Record<string, unknown>;
  session: Record<string, unknown>;
}

/**
 * Runs one passport strategy the way passport's own `authenticate` middleware does (a per-request
 * object inheriting from the strategy, with success/fail/redirect/error/pass bound), without
 * Express or koa-passport: the caller turns the outcome into a Koa response.
 */
export function runStrategy(
  strategy: Strategy,
  request: StrategyRequest,
  options: Record<string, unknown> = {},
): Promise<StrategyOutcome> {
  return new Promise((resolve) => {
    const attempt = Object.create(strategy) as { authenticate(req: unknown, options: unknown): void };
    let settled = false;
    const settle = (outcome: StrategyOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    Object.assign(attempt, {
      success: (user: unknown, info?: unknown) => settle({ kind: 'success', user, info }),
      fail: (challenge?: unknown, status?: number) => settle({ kind: 'fail', challenge, status }),
      redirect: (url: string) => settle({ kind: 'redirect', url }),
      error: (error: Error) => settle({ kind: 'error', error }),
      pass: () => settle({ kind: 'pass' }),
    });
    try {
      attempt.authenticate(request, options);
    } catch (error) {
      settle({ kind: 'error', error: error as Error });
    }
  });
}
