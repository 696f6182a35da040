import { createHash, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ProblemError } from '../sdk/errors.js';
import type { GatewayState } from '../sdk/plugin.js';
import { problemMiddleware } from './errors.js';

export interface OpsEndpoints {
  registry: Registry;
  /** Resolves when ready; rejects with the reason otherwise. */
  readiness(): Promise<Record<string, string>>;
  isDraining(): boolean;
  /** Refreshes gauges read on scrape (queue depth). */
  beforeScrape?(): Promise<void>;
}

/** /healthz and /readyz: served on the public listener (the proxy's health check) and on the ops listener. */
export function healthRouter(ops: OpsEndpoints): Router<GatewayState> {
  const router = new Router<GatewayState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      if (ops.isDraining()) throw new Error('shutting down');
      ctx.body = { status: 'ready', checks: await ops.readiness() };
    } catch (error) {
      throw new ProblemError(503, 'Not ready', (error as Error).message);
    }
  });
  return router;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Bearer check for /metrics when a token is configured; compared in constant time. */
function metricsGuard(token: string | undefined): Koa.Middleware<GatewayState> {
  const expected = token ? digest(token) : undefined;
  return async (ctx, next) => {
    if (expected) {
      const given = /^Bearer (\S+)$/i.exec(ctx.get('authorization'))?.[1];
      if (!given || !timingSafeEqual(digest(given), expected)) {
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new ProblemError(401, 'Unauthorized', 'send the metrics token: Authorization: Bearer <ops.metricsToken>');
      }
    }
    await next();
  };
}

/**
 * The ops listener (ops.host:ops.port, 9464 by default): /healthz, /readyz and /metrics. It is never behind the
 * public proxy, so Prometheus text (route names, plugin names, volumes) does not leak to the internet.
 */
export function createOpsApp(options: { ops: OpsEndpoints; logger: Logger; metricsToken?: string }): Koa<GatewayState> {
  const { ops, logger } = options;
  const app = new Koa<GatewayState>();
  app.silent = true;
  app.use(async (ctx, next) => {
    ctx.state.log = logger;
    await next();
    if (ops.isDraining()) ctx.set('Connection', 'close');
  });
  app.use(problemMiddleware());
  app.use(healthRouter(ops).routes());
  const metrics = new Router<GatewayState>();
  metrics.get('/metrics', metricsGuard(options.metricsToken), async (ctx) => {
    await ops.beforeScrape?.();
    ctx.type = ops.registry.contentType;
    ctx.body = await ops.registry.metrics();
  });
  app.use(metrics.routes());
  return app;
}
