import type Router from '@koa/router';
import type Koa from 'koa';
import { z } from 'zod';
import { requireAdminScope } from './admin-http.js';
import { ValidationProblem } from './errors.js';
import { readJsonBody, validate } from './http.js';
import type { ServiceResolver } from './plugin.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseDescription {
  description: string;
  /** The body's schema (JSON unless `contentType` says otherwise); omit when there is no body. */
  schema?: z.ZodType;
  /** Defaults to application/json when a schema is given. */
  contentType?: string;
  /** Response headers worth knowing (ETag), name → description. */
  headers?: Readonly<Record<string, string>>;
}

/** Request headers a route reads (If-Match, Idempotency-Key), name → meaning. */
export interface HeaderDescription {
  description: string;
  required?: boolean;
}

/**
 * What the OpenAPI document says about one route. The same zod schemas validate the request, so the
 * document cannot drift from what the route accepts.
 */
export interface RouteDescription {
  method: HttpMethod;
  /** Koa path relative to the router's prefix: "/devices/:id". */
  path: string;
  summary: string;
  description?: string;
  /** Defaults to the plugin's name. */
  tags?: readonly string[];
  /** Admin scope the route requires; absent for routes that are not admin routes. */
  scope?: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: Readonly<Record<string, HeaderDescription>>;
  body?: z.ZodType;
  /** Media type of the body; defaults to application/json. */
  bodyContentType?: string;
  responses: Readonly<Record<number, ResponseDescription>>;
}

/** Shared (Symbol.for) so a partner plugin with its own copy of the SDK is still described. */
const DESCRIPTION = Symbol.for('enrollment-gateway.routeDescription');

type Described = Koa.Middleware & { [DESCRIPTION]?: RouteDescription };

/**
 * A pass-through middleware that carries a route's description for the OpenAPI document. Put it first
 * in the route's middleware, for routes that validate their input themselves:
 *   router.get('/x', describeRoute({ method: 'get', path: '/x', summary: '…', responses }), handler)
 */
export function describeRoute(description: RouteDescription): Koa.Middleware {
  const marker: Described = async (_koa, next) => {
    await next();
  };
  marker[DESCRIPTION] = description;
  return marker;
}

/** The description a route's middleware carries, if any (the kernel builds /api/openapi.json from it). */
export function routeDescriptionOf(stack: readonly unknown[]): RouteDescription | undefined {
  for (const middleware of stack) {
    const description = (middleware as Described | undefined)?.[DESCRIPTION];
    if (description) return description;
  }
  return undefined;
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface AdminRouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export interface AdminRouteSpec<
  P extends z.ZodObject | undefined,
  Q extends z.ZodObject | undefined,
  B extends z.ZodType | undefined,
> extends Omit<RouteDescription, 'scope' | 'params' | 'query' | 'body'> {
  scope: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Largest accepted body in bytes; at most, and by default, the route family's limit (RouteDefinition.bodyLimitBytes). */
  bodyLimit?: number;
}

export type AdminRouteHandler<
  P extends z.ZodObject | undefined,
  Q extends z.ZodObject | undefined,
  B extends z.ZodType | undefined,
> = (koa: Koa.Context, input: AdminRouteInput<Parsed<P>, Parsed<Q>, Parsed<B>>) => Promise<void>;

/**
 * Registers an admin route: described for the OpenAPI document, guarded by `scope` (401/403 before
 * anything else), then params, query and JSON body validated by their schemas (400 problem with
 * `issues`, 415 for a body that is not JSON) and handed to the handler parsed.
 */
export function adminRoute<
  P extends z.ZodObject | undefined = undefined,
  Q extends z.ZodObject | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(router: Router, ctx: ServiceResolver, spec: AdminRouteSpec<P, Q, B>, handler: AdminRouteHandler<P, Q, B>): void {
  const { bodyLimit, ...description } = spec;
  const run: Koa.Middleware = async (koa) => {
    const input = {
      params: spec.params ? validate(spec.params, koa.params) : undefined,
      query: spec.query ? validate(spec.query, koa.query) : undefined,
      body: spec.body ? await readJsonBody(koa, spec.body, bodyLimit) : undefined,
    };
    await handler(koa, input as AdminRouteInput<Parsed<P>, Parsed<Q>, Parsed<B>>);
  };
  const middleware = [describeRoute(description as RouteDescription), requireAdminScope(ctx, spec.scope), run];
  // router.get/post/… rather than register(): they pass the router's own options (prefix, strict) on.
  const registerMethod = router[spec.method] as unknown as (path: string, ...stack: Koa.Middleware[]) => unknown;
  registerMethod.call(router, spec.path, ...middleware);
}

export type AdminRouteOptions<
  P extends z.ZodObject | undefined,
  Q extends z.ZodObject | undefined,
  B extends z.ZodType | undefined,
> = Omit<AdminRouteSpec<P, Q, B>, 'method' | 'path' | 'tags'> & { tags?: readonly string[] };

type AdminMethod = <
  P extends z.ZodObject | undefined = undefined,
  Q extends z.ZodObject | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(
  path: string,
  options: AdminRouteOptions<P, Q, B>,
  handler: AdminRouteHandler<P, Q, B>,
) => void;

export type AdminApi = Record<HttpMethod, AdminMethod>;

/**
 * adminRoute with the router, context and tags bound:
 *   const api = adminApi(router, ctx, { tags: ['devices'] });
 *   api.get('/devices/:id', { scope: 'devices:read', summary: '…', params, responses }, async (koa, { params }) => …);
 */
export function adminApi(router: Router, ctx: ServiceResolver, defaults: { tags?: readonly string[] } = {}): AdminApi {
  const method =
    (name: HttpMethod): AdminMethod =>
    (path, options, handler) =>
      adminRoute(router, ctx, { tags: defaults.tags, ...options, method: name, path }, handler);
  return {
    get: method('get'),
    post: method('post'),
    put: method('put'),
    patch: method('patch'),
    delete: method('delete'),
  };
}

/** Cursor-paginated list responses: `{ items, nextCursor }`; pass nextCursor back as `cursor`. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('Pass as `cursor` to get the next page; null on the last page'),
  });
}

/** An opaque keyset cursor: the last item's sort position, base64url JSON the client passes back unchanged. */
export function encodeCursor(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** Reads a cursor made by encodeCursor; anything else (or a cursor of another sort order) is a 400. */
export function decodeCursor<S extends z.ZodType>(raw: string, schema: S): z.output<S> {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    position = undefined;
  }
  const parsed = schema.safeParse(position);
  if (!parsed.success) {
    throw new ValidationProblem('cursor: not a cursor of this list and sort order; start again without one', [
      { path: 'cursor', message: 'not a cursor of this list and sort order' },
    ]);
  }
  return parsed.data;
}
