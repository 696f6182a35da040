import type Router from '@koa/router';
import { z } from 'zod';
import { type RouteDescription, routeDescriptionOf } from '../sdk/openapi.js';

/** One method of one mounted route, with the description its middleware carries (if any). */
export interface MountedOperation {
  plugin: string;
  method: string;
  /** The Koa path, prefix included: "/api/mdm/devices/:id". */
  path: string;
  description?: RouteDescription;
}

export interface PluginRouter {
  plugin: string;
  router: Pick<Router, 'stack'>;
}

type JsonObject = Record<string, unknown>;

/** Walks the routers' layers: every method of every route; router.use() middleware is not a route. */
export function mountedOperations(routers: readonly PluginRouter[]): MountedOperation[] {
  const operations: MountedOperation[] = [];
  for (const { plugin, router } of routers) {
    for (const layer of router.stack) {
      if (layer.methods.length === 0) continue;
      const path = typeof layer.path === 'string' ? layer.path : String(layer.path);
      const description = routeDescriptionOf(layer.stack);
      for (const method of layer.methods) {
        // HEAD is added for every GET by the router; OPTIONS is answered by allowedMethods.
        if (method === 'HEAD' || method === 'OPTIONS') continue;
        operations.push({ plugin, method: method.toLowerCase(), path: normalisePath(path), description });
      }
    }
  }
  return operations;
}

function normalisePath(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** "/devices/:id" → "/devices/{id}". */
export function openApiPath(koaPath: string): string {
  return koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

const problemSchema: JsonObject = {
  type: 'object',
  description: 'RFC 9457 problem details; validation failures list each issue',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string', description: 'urn:request:<request id>, as in the X-Request-Id header' },
    issues: {
      type: 'array',
      items: {
        type: 'object',
        properties: { path: { type: 'string' }, message: { type: 'string' } },
        required: ['path', 'message'],
      },
    },
  },
  required: ['type', 'title', 'status'],
};

const standardProblems: Record<string, string> = {
  '400': 'Invalid request: the body, query or path failed validation (`issues` lists each field)',
  '401': 'No admin credentials, or invalid ones',
  '403': 'The credential lacks the scope, or (with a session cookie) the CSRF token is missing',
  '415': 'The body is not application/json',
};

/** Converts zod to JSON Schema 2020-12 (OpenAPI 3.1's dialect); reused named schemas go to components. */
class SchemaConverter {
  readonly components: Record<string, JsonObject> = { Problem: problemSchema };

  convert(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
    const json = z.toJSONSchema(schema, {
      io,
      unrepresentable: 'any',
      target: 'draft-2020-12',
      override: (ctx) => {
        const type = (ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def.type;
        // Dates leave as ISO strings through JSON.
        if (type === 'date') Object.assign(ctx.jsonSchema, { type: 'string', format: 'date-time' });
      },
    }) as JsonObject;
    const { $schema: _dialect, $defs, ...rest } = json;
    for (const [id, def] of Object.entries(($defs as Record<string, JsonObject>) ?? {})) {
      this.components[id] = rewriteRefs(def) as JsonObject;
    }
    return rewriteRefs(rest) as JsonObject;
  }
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) =>
      key === '$ref' && typeof inner === 'string'
        ? [key, inner.replace('#/$defs/', '#/components/schemas/')]
        : [key, rewriteRefs(inner)],
    ),
  );
}

function parameters(description: RouteDescription, path: string, converter: SchemaConverter): JsonObject[] {
  const out: JsonObject[] = [];
  const pathParams = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]);
  const paramSchema = description.params ? converter.convert(description.params, 'input') : undefined;
  const paramProps = (paramSchema?.properties ?? {}) as Record<string, JsonObject>;
  for (const name of pathParams) {
    out.push({ name, in: 'path', required: true, schema: paramProps[name] ?? { type: 'string' } });
  }
  if (description.query) {
    const query = converter.convert(description.query, 'input');
    const required = new Set((query.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((query.properties ?? {}) as Record<string, JsonObject>)) {
      const { description: text, ...rest } = schema;
      out.push({
        name,
        in: 'query',
        required: required.has(name),
        schema: rest,
        ...(text ? { description: text } : {}),
      });
    }
  }
  for (const [name, header] of Object.entries(description.headers ?? {})) {
    out.push({
      name,
      in: 'header',
      required: header.required ?? false,
      description: header.description,
      schema: { type: 'string' },
    });
  }
  return out;
}

function operation(op: MountedOperation, converter: SchemaConverter): JsonObject {
  const description = op.description;
  if (!description) {
    return {
      operationId: operationId(op),
      tags: [op.plugin],
      summary: 'Not described yet',
      'x-undescribed': true,
      parameters: [...op.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      responses: { default: { description: 'See the plugin documentation' } },
    };
  }
  const responses: JsonObject = {};
  for (const [status, response] of Object.entries(description.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(response.headers).map(([name, text]) => [
                name,
                { description: text, schema: { type: 'string' } },
              ]),
            ),
          }
        : {}),
      ...(response.schema
        ? {
            content: {
              [response.contentType ?? 'application/json']: { schema: converter.convert(response.schema, 'output') },
            },
          }
        : {}),
    };
  }
  const problems = { ...standardProblems };
  if (!description.scope) {
    delete problems['401'];
    delete problems['403'];
  }
  if (!description.body) delete problems['415'];
  if (!description.body && !description.query && !description.params) delete problems['400'];
  for (const [status, text] of Object.entries(problems)) {
    responses[status] ??= { description: text };
  }
  for (const [status, response] of Object.entries(responses)) {
    const code = Number(status);
    if (code >= 400 && !(response as JsonObject).content) {
      (response as JsonObject).content = { 'application/problem+json': { schema: PROBLEM_REF } };
    }
  }
  return {
    operationId: operationId(op),
    tags: [...(description.tags ?? [op.plugin])],
    summary: description.summary,
    ...(description.description || description.scope
      ? {
          description: [description.description, description.scope ? `Scope: \`${description.scope}\`.` : undefined]
            .filter(Boolean)
            .join('\n\n'),
        }
      : {}),
    parameters: parameters(description, op.path, converter),
    ...(description.body
      ? {
          requestBody: {
            required: true,
            content: {
              [description.bodyContentType ?? 'application/json']: {
                schema: converter.convert(description.body, 'input'),
              },
            },
          },
        }
      : {}),
    responses,
    ...(description.scope
      ? { security: [{ apiKey: [] }, { bearer: [] }, { session: [] }], 'x-scope': description.scope }
      : { security: [] }),
  };
}

function operationId(op: MountedOperation): string {
  const words = op.path
    .split('/')
    .filter((part) => part && part !== 'api')
    .map((part) => (part.startsWith(':') ? `by-${part.slice(1)}` : part));
  return [op.method, ...words]
    .join('-')
    .replace(/[^A-Za-z0-9]+(.)/g, (_, c: string) => c.toUpperCase())
    .replace(/[^A-Za-z0-9]/g, '');
}

export interface OpenApiOptions {
  title: string;
  version: string;
  serverUrl: string;
  routers: readonly PluginRouter[];
  /** Only routes under these path prefixes are documented. */
  pathPrefixes?: readonly string[];
}

/** The OpenAPI 3.1 document of the mounted admin API, built from the routes' own descriptions and schemas. */
export function buildOpenApiDocument(options: OpenApiOptions): JsonObject {
  const prefixes = options.pathPrefixes ?? ['/api/'];
  const converter = new SchemaConverter();
  const paths: Record<string, JsonObject> = {};
  const tags = new Set<string>();
  for (const op of mountedOperations(options.routers)) {
    if (!prefixes.some((prefix) => op.path.startsWith(prefix))) continue;
    const built = operation(op, converter);
    for (const tag of built.tags as string[]) tags.add(tag);
    const key = openApiPath(op.path);
    paths[key] = { ...(paths[key] ?? {}), [op.method]: built };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: options.title,
      version: options.version,
      description:
        'The admin API of the enrollment gateway. JSON in and out; errors are application/problem+json ' +
        '(RFC 9457). Lists are cursor-paginated: pass `nextCursor` back as `cursor`. Writes that change a ' +
        'versioned resource need its version (If-Match or `version`) and answer 409 when it is stale.',
    },
    servers: [{ url: options.serverUrl }],
    tags: [...tags].sort().map((name) => ({ name })),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      schemas: converter.components,
      securitySchemes: {
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'X-API-Key',
          description: 'A scoped API key (gwk_…); also accepted as `Authorization: Bearer gwk_…`',
        },
        bearer: { type: 'http', scheme: 'bearer', description: 'An access token of the identity provider' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: '__Host-gw_session',
          description:
            'A signed-in admin browser session (cookie name: plugins.identity-entra.sessionCookieName); writes also need the X-CSRF-Token header',
        },
      },
    },
  };
}
