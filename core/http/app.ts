import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import helmet from 'koa-helmet';
import type { Logger } from 'pino';
import type { Counter, Histogram } from 'prom-client';
import type { CoreConfig } from '../config/schema.js';
import { ProblemError } from '../sdk/errors.js';
import { BODY_LIMIT_STATE } from '../sdk/http.js';
import type { GatewayState, PluginContext, RouteDefinition } from '../sdk/plugin.js';
import { CORE_API_VERSION } from '../sdk/version.js';
import { referenceStyleHash, renderApiReference } from './api-reference.js';
import { problemMiddleware } from './errors.js';
import { loggablePath } from './log-redaction.js';
import type { OpenStreams } from './open-streams.js';
import { buildOpenApiDocument, type PluginRouter } from './openapi.js';
import { healthRouter, type OpsEndpoints } from './ops.js';

export type { OpsEndpoints };

export interface MountedRoutes {
  plugin: string;
  route: RouteDefinition<unknown>;
  context: PluginContext<unknown>;
}

export interface HttpMetrics {
  requests: Counter<'method' | 'route' | 'status' | 'plugin'>;
  duration: Histogram<'method' | 'route' | 'plugin'>;
}

const requestIdPattern = /^[A-Za-z0-9._-]{8,128}$/;

export function createHttpApp(options: {
  config: CoreConfig;
  logger: Logger;
  metrics: HttpMetrics;
  ops: OpsEndpoints;
  routes: readonly MountedRoutes[];
  /** Event streams to end first at shutdown. */
  streams?: OpenStreams;
}): Koa<GatewayState> {
  const { config, logger, metrics, ops } = options;
  const app = new Koa<GatewayState>({ proxy: config.http.trustProxy, maxIpsCount: config.http.maxProxyHops });
  app.silent = true;

  app.use(async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    ctx.state.requestId = requestIdPattern.test(incoming) ? incoming : randomUUID();
    ctx.state.log = logger.child({ reqId: ctx.state.requestId });
    ctx.set('X-Request-Id', ctx.state.requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      if (ops.isDraining()) ctx.set('Connection', 'close');
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const plugin = (ctx.state.plugin as string | undefined) ?? 'core';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.requests.inc({ method: ctx.method, route: String(route), status: String(ctx.status), plugin });
      metrics.duration.observe({ method: ctx.method, route: String(route), plugin }, seconds);
      if (!ctx.path.startsWith('/healthz') && !ctx.path.startsWith('/readyz')) {
        ctx.state.log.info(
          {
            method: ctx.method,
            path: loggablePath(ctx),
            status: ctx.status,
            ip: ctx.ip,
            ms: Math.round(seconds * 1000),
          },
          'request',
        );
      }
    }
  });
  app.use(problemMiddleware());
  if (options.streams) app.use(options.streams.middleware());
  app.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      strictTransportSecurity: config.publicUrl.startsWith('https:') ? { maxAge: 31_536_000 } : false,
      crossOriginEmbedderPolicy: false,
    }),
  );

  // Health for the proxy and the container check; /metrics is only on the ops listener (core/http/ops.ts).
  app.use(healthRouter(ops).routes());
  const pluginRouters: PluginRouter[] = [];
  const docs = apiDocsRouter(config, pluginRouters);
  app.use(docs.routes());
  for (const { plugin, route, context } of options.routes) {
    const router = new Router<GatewayState>(route.prefix ? { prefix: route.prefix } : {});
    const bodyLimit = route.bodyLimitBytes ?? config.http.bodyLimitBytes;
    router.use(async (ctx, next) => {
      ctx.state.plugin = plugin;
      // The family's one limit: a larger declared body is refused before the route reads it.
      ctx.state[BODY_LIMIT_STATE] = bodyLimit;
      if (Number(ctx.get('content-length') || 0) > bodyLimit) {
        throw new ProblemError(413, 'Payload too large', `body exceeds ${bodyLimit} bytes`);
      }
      await next();
    });
    route.mount(router, context);
    pluginRouters.push({ plugin, router: router });
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: true }));
  }
  return app;
}

/**
 * GET /api/openapi.json and its rendered reference at /api/docs. Public like any API description: it
 * holds no data, only the shape of the routes. Built once, on first request, after every plugin mounted.
 */
function apiDocsRouter(config: CoreConfig, routers: readonly PluginRouter[]): Router<GatewayState> {
  let document: Record<string, unknown> | undefined;
  let page: string | undefined;
  const built = () =>
    (document ??= buildOpenApiDocument({
      title: 'Enrollment Gateway admin API',
      version: CORE_API_VERSION,
      serverUrl: config.publicUrl,
      routers,
    }));
  const router = new Router<GatewayState>();
  router.get('/api/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = built();
  });
  router.get('/api/docs', (ctx) => {
    page ??= renderApiReference(built());
    ctx.set(
      'Content-Security-Policy',
      `default-src 'none'; style-src ${referenceStyleHash}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
    );
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = page;
  });
  return router;
}
