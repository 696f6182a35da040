import type Koa from 'koa';
import { ProblemError } from '../sdk/errors.js';
import type { GatewayState } from '../sdk/plugin.js';

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
        throw new ProblemError(404, 'Not found', `no route for ${ctx.method} ${ctx.path}`);
    } catch (error) {
      const problem = toProblem(error);
      if (problem.status >= 500) ctx.state.log?.error({ err: error }, 'request failed');
      else ctx.state.log?.info({ status: problem.status, reason: problem.detail ?? problem.title }, 'request refused');
      ctx.status = problem.status;
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

function toProblem(error: unknown): ProblemError {
  if (ProblemError.is(error)) return error;
  const status = (error as { status?: number; expose?: boolean }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = (error as { expose?: boolean; message?: string }).expose ? (error as Error).message : undefined;
    return new ProblemError(status, reasons[status] ?? 'Request refused', message);
  }
  return new ProblemError(500, 'Internal server error', undefined, { cause: error });
}
