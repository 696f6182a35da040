import { PassThrough } from 'node:stream';
import type Router from '@koa/router';
import { adminApi, type PluginContext, type Unenrollment, unenrollmentRef } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { AdminCenterConfig } from './config.js';

export interface DeviceEvent {
  deviceId: string;
  event: 'command' | 'unenrollment';
  data: Record<string, unknown>;
}

type Listener = (event: DeviceEvent) => void;

const channel = (ctx: PluginContext<AdminCenterConfig>) => `${ctx.redisKeyPrefix}device-events`;

/**
 * Device events for open admin pages, across replicas: whichever process sees a command result publishes
 * it on Redis; every process with a page open for that device forwards it. One subscriber connection per
 * process, opened on the first page that listens.
 */
export class LiveDeviceEvents {
  private subscriber?: Redis;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly ctx: PluginContext<AdminCenterConfig>) {}

  async publish(event: DeviceEvent): Promise<void> {
    await this.ctx.redis.publish(channel(this.ctx), JSON.stringify(event));
  }

  async listen(deviceId: string, listener: Listener): Promise<() => void> {
    if (!this.subscriber) {
      this.subscriber = this.ctx.createRedis('live-events');
      this.subscriber.on('message', (_channel: string, message: string) => {
        let event: DeviceEvent;
        try {
          event = JSON.parse(message) as DeviceEvent;
        } catch {
          return;
        }
        for (const each of this.listeners.get(event.deviceId) ?? []) each(event);
      });
      await this.subscriber.subscribe(channel(this.ctx));
    }
    const set = this.listeners.get(deviceId) ?? new Set<Listener>();
    set.add(listener);
    this.listeners.set(deviceId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(deviceId);
    };
  }

  async close(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
    this.subscriber = undefined;
  }
}

const progressOf = (unenrollment: Unenrollment | undefined) =>
  unenrollment
    ? JSON.stringify({ state: unenrollment.state, steps: unenrollment.steps.map((s) => [s.name, s.state]) })
    : '';

/** GET /api/admin-center/devices/:id/events: server-sent events for one device's page. */
export function mountLiveRoutes(router: Router, ctx: PluginContext<AdminCenterConfig>, live: LiveDeviceEvents): void {
  adminApi(router, ctx, { tags: ['devices'] }).get(
    '/devices/:id/events',
    {
      scope: 'devices:read',
      summary: 'Live events of a device (server-sent events): command results and retirement progress',
      description:
        'Events: `command` ({commandUuid, requestType, status}) when the device answers a command; `unenrollment` ' +
        '({state, steps}) when a retirement advances. The stream ends after a while; EventSource reconnects.',
      params: z.object({ id: z.string().regex(/^[0-9a-f]{24}$/) }),
      responses: { 200: { description: 'An event stream', contentType: 'text/event-stream', schema: z.string() } },
    },
    async (koa, { params }) => {
      const stream = new PassThrough();
      const send = (event: string, data: unknown) => stream.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      koa.req.socket.setTimeout(0);
      koa.status = 200;
      koa.set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
      koa.body = stream;
      stream.write('retry: 3000\n\n');

      // Watch for the browser leaving before the first await: a close that fires while we wait would
      // otherwise leave the poller and the subscription running for good.
      let closed = false;
      const cleanups: (() => void)[] = [];
      const close = () => {
        if (closed) return;
        closed = true;
        for (const cleanup of cleanups) cleanup();
        stream.end();
      };
      koa.req.on('close', close);
      stream.on('close', close);
      const whileOpen = (cleanup: () => void) => (closed ? cleanup() : cleanups.push(cleanup));

      let lastProgress = progressOf(await ctx.tryResolve(unenrollmentRef)?.get(params.id));
      const checkProgress = async () => {
        const progress = await ctx.tryResolve(unenrollmentRef)?.get(params.id);
        const now = progressOf(progress);
        if (progress && now !== lastProgress) send('unenrollment', JSON.parse(now));
        lastProgress = now;
      };
      if (closed) return;
      const stop = await live.listen(params.id, (event) => {
        send(event.event, event.data);
        if (event.event === 'command') void checkProgress().catch(() => undefined);
      });
      whileOpen(stop);
      if (closed) return;
      // Server-side retirement steps (certificates, secrets, time-outs) raise no command result: poll while open.
      const poll = setInterval(() => {
        void checkProgress().catch(() => undefined);
        stream.write(': keep-alive\n\n');
      }, 2_000);
      const deadline = setTimeout(() => stream.end(), ctx.config.liveRetireTimeoutSeconds * 1000);
      whileOpen(() => {
        clearInterval(poll);
        clearTimeout(deadline);
      });
    },
  );
}
