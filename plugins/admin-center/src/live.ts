import {
  adminApi,
  LiveChannel,
  type LiveStream,
  type PluginContext,
  type PluginRouter,
  type Unenrollment,
  unenrollmentRef,
} from 'enrollment-gateway/sdk';
import { z } from 'zod';
import type { AdminCenterConfig } from './config.js';

export interface DeviceEvent {
  deviceId: string;
  event: 'command' | 'unenrollment';
  data: Record<string, unknown>;
}

const deviceTopic = (deviceId: string) => `device:${deviceId}`;

/**
 * Device events for open admin pages, across replicas: whichever process sees a command result publishes
 * it; every process with a page open for that device forwards it (the SDK's LiveChannel carries it).
 */
export class LiveDeviceEvents {
  readonly channel: LiveChannel;

  constructor(ctx: PluginContext<AdminCenterConfig>) {
    this.channel = new LiveChannel(ctx, { name: 'device-events', retryMs: 3000 });
  }

  async publish(event: DeviceEvent): Promise<void> {
    await this.channel.publish(deviceTopic(event.deviceId), event.event, event.data);
  }

  async close(): Promise<void> {
    await this.channel.close();
  }
}

const progressOf = (unenrollment: Unenrollment | undefined) =>
  unenrollment
    ? JSON.stringify({ state: unenrollment.state, steps: unenrollment.steps.map((s) => [s.name, s.state]) })
    : '';

/** GET /api/admin-center/devices/:id/events: server-sent events for one device's page. */
export function mountLiveRoutes(
  router: PluginRouter,
  ctx: PluginContext<AdminCenterConfig>,
  live: LiveDeviceEvents,
): void {
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
      const unenrollments = ctx.tryResolve(unenrollmentRef);
      let lastProgress = progressOf(await unenrollments?.get(params.id));
      const checkProgress = async (open: LiveStream) => {
        const progress = await unenrollments?.get(params.id);
        const now = progressOf(progress);
        if (progress && now !== lastProgress) open.send('unenrollment', JSON.parse(now));
        lastProgress = now;
      };
      const stream = await live.channel.open(koa, {
        topics: [deviceTopic(params.id)],
        maxMs: ctx.config.liveRetireTimeoutSeconds * 1000,
        onMessage: (message, open) => {
          open.send(message.event, message.data);
          if (message.event === 'command') void checkProgress(open).catch(() => undefined);
        },
      });
      if (!stream) return;
      // Server-side retirement steps (certificates, secrets, time-outs) raise no command result: poll while open.
      const poll = setInterval(() => void checkProgress(stream).catch(() => undefined), 2_000);
      stream.onClose(() => clearInterval(poll));
    },
  );
}
