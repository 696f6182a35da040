import type { ServerResponse } from 'node:http';
import type Koa from 'koa';

/**
 * Long-lived responses (server-sent events) open on this process. At shutdown they are ended first, so browsers
 * reconnect (EventSource does) to a replica that stays up, and the drain is not held for the whole grace period
 * by streams that never finish on their own. Any plugin's stream counts: the core sees the response type.
 */
export class OpenStreams {
  private readonly open = new Map<ServerResponse, () => void>();
  private closing = false;

  /** Koa middleware: registers a response once its handler made it an event stream. */
  middleware(): Koa.Middleware {
    return async (ctx, next) => {
      await next();
      if (ctx.response.type !== 'text/event-stream') return;
      const body: unknown = ctx.body;
      const res = ctx.res;
      // Ending the body stream lets the handler's own close listeners clean up (timers, subscriptions).
      const end = () => {
        const writable = body as { end?: () => void } | null;
        if (writable && typeof writable.end === 'function') writable.end();
        else res.end();
      };
      if (this.closing) {
        end();
        return;
      }
      this.open.set(res, end);
      res.once('close', () => this.open.delete(res));
    };
  }

  get size(): number {
    return this.open.size;
  }

  /** Ends every open stream and any stream opened from now on. */
  closeAll(): void {
    this.closing = true;
    for (const end of this.open.values()) end();
    this.open.clear();
  }
}
