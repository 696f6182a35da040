import type Koa from 'koa';
import getRawBody from 'raw-body';
import type { z } from 'zod';
import { ProblemError, ValidationProblem } from './errors.js';

/** Where the core puts the body limit of the route family a request matched (RouteDefinition.bodyLimitBytes). */
export const BODY_LIMIT_STATE = 'bodyLimitBytes';

/** The body limit of the request's route family, lowered to `limit` when a route asks for less. */
export function bodyLimitOf(ctx: Koa.Context, limit?: number): number {
  const family = ctx.state[BODY_LIMIT_STATE];
  const declared = typeof family === 'number' ? family : Number.POSITIVE_INFINITY;
  const effective = Math.min(declared, limit ?? Number.POSITIVE_INFINITY);
  if (!Number.isFinite(effective)) throw new Error('no body limit: the route family declares none');
  return effective;
}

/**
 * Buffers the request body as bytes, refusing bodies over the route family's limit (or a smaller `limit`) with 413.
 * MDM signatures cover the exact bytes, so protocol routes read raw bodies before parsing.
 */
export async function readRawBody(ctx: Koa.Context, maxBytes?: number): Promise<Buffer> {
  const cached = (ctx.request as { rawBody?: Buffer }).rawBody;
  if (cached) return cached;
  const limit = bodyLimitOf(ctx, maxBytes);
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limit) throw new ProblemError(413, 'Payload too large', `body exceeds ${limit} bytes`);
  try {
    const body = await getRawBody(ctx.req, { limit, length: declared || undefined });
    (ctx.request as { rawBody?: Buffer }).rawBody = body;
    return body;
  } catch (error) {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') throw new ProblemError(413, 'Payload too large', `body exceeds ${limit} bytes`);
    throw new ProblemError(400, 'Bad request', 'request body could not be read', { cause: error });
  }
}

/** Reads and validates a JSON body; a schema failure is a 400 problem listing each issue. */
export async function readJsonBody<S extends z.ZodType>(
  ctx: Koa.Context,
  schema: S,
  limit?: number,
): Promise<z.output<S>> {
  const type = ctx.get('content-type');
  if (!/^application\/(.+\+)?json\b/i.test(type)) {
    throw new ProblemError(415, 'Unsupported media type', 'expected application/json');
  }
  const raw = await readRawBody(ctx, limit);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ValidationProblem('body is not valid JSON');
  }
  return validate(schema, parsed);
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    }));
    throw new ValidationProblem(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), issues);
  }
  return result.data;
}
