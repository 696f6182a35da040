import type Koa from 'koa';
import { ProblemError } from '../sdk/errors.js';
import type { GatewayState } from '../sdk/plugin.js';
import { redactTokenLikeSegments } from './log-redaction.js';

const reasons: Record<number, string> = {
  400: 'Bad request',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  413: 'Payload too large',
  415: 'Unsupported media type',
};

/** Every error leaves as application/problem+json (RFC 9457); unexpected ones hide their details. */
export function problemMiddleware(): Koa.Middleware<GatewayState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined)
        throw new ProblemError(404, 'Not found', `no route for ${ctx.method} ${redactTokenLikeSegments(ctx.path)}`);
    } catch (error) {
      const problem = toProblem(error);
      if (problem.status >= 500) ctx.state.log?.error({ err: error }, 'request failed');
      else ctx.state.log?.info({ status: problem.status, reason: problem.detail ?? problem.title }, 'request refused');
      ctx.status = problem.status;
      // A partner's copy of the SDK may predate `headers`.
      for (const [name, value] of Object.entries(problem.headers ?? {})) ctx.set(name, value);
      ctx.type = 'application/problem+json';
      ctx.body = {
        type: problem.type,
        title: problem.title,
        status: problem.status,
        ...(problem.detail ? { detail: problem.detail } : {}),
        instance: ctx.state.requestId ? `urn:request:${ctx.state.requestId}` : undefined,
        ...problem.extensions,
      };
    }
  };
}

/**
 * The driver's errors while MongoDB (or Redis) is unreachable: the request may succeed on a retry, so the client
 * (a device above all, which must never see a 401 and should not see a 500) is told 503 with Retry-After.
 */
const UNAVAILABLE_ERRORS = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoPoolClearedError',
  'PoolClearedError',
  'PoolClearedOnNetworkError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MaxRetriesPerRequestError',
]);

function isBackendUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as Error).cause, depth++) {
    if (UNAVAILABLE_ERRORS.has((e as Error).name)) return true;
    if ((e as Error).message === 'Connection is closed.') return true;
  }
  return false;
}

function toProblem(error: unknown): ProblemError {
  if (ProblemError.is(error)) return error;
  if (isBackendUnavailable(error)) {
    return new ProblemError(503, 'Service unavailable', 'a backing service is unreachable; try again shortly', {
      headers: { 'Retry-After': '5' },
      cause: error,
    });
  }
  const status = (error as { status?: number; expose?: boolean }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = (error as { expose?: boolean; message?: string }).expose ? (error as Error).message : undefined;
    return new ProblemError(status, reasons[status] ?? 'Request refused', message);
  }
  return new ProblemError(500, 'Internal server error', undefined, { cause: error });
}
