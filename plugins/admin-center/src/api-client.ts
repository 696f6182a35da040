import { ProblemError } from 'enrollment-gateway/sdk';
import type Koa from 'koa';

/** Headers that carry the caller's admin credentials; the admin API decides, exactly as for the browser. */
const FORWARDED = ['authorization', 'x-api-key', 'cookie'] as const;

export interface Problem {
  status: number;
  title?: string;
  detail?: string;
}

export type ApiResult<T> = { ok: true; status: number; body: T } | { ok: false; status: number; problem: Problem };

/**
 * Reads the gateway's own admin API for a page, over loopback to the listener the page request came in on,
 * with the caller's credentials. Pages then show exactly what the API would answer that admin: the same
 * scopes, the same validation, the same plugins, on any replica.
 */
export class AdminApiClient {
  constructor(private readonly koa: Koa.Context) {}

  private base(): string {
    const socket = this.koa.req.socket;
    let address = socket.localAddress ?? '127.0.0.1';
    if (address.startsWith('::ffff:')) address = address.slice(7);
    return `http://${address.includes(':') ? `[${address}]` : address}:${socket.localPort}`;
  }

  async get<T>(path: string): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const name of FORWARDED) {
      const value = this.koa.get(name);
      if (value) headers[name] = value;
    }
    // The session cookie is a secure cookie: tell the API the original request's scheme (used when trustProxy).
    headers['x-forwarded-proto'] = this.koa.protocol;
    headers['x-request-id'] = String(this.koa.state.requestId ?? '');
    const response = await fetch(`${this.base()}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
    const body = (await response.json().catch(() => undefined)) as unknown;
    if (response.ok) return { ok: true, status: response.status, body: body as T };
    return {
      ok: false,
      status: response.status,
      problem: (body as Problem | undefined) ?? { status: response.status },
    };
  }

  /** Like get, but a refusal becomes the page's own error (401 → sign in, 403, 404). */
  async must<T>(path: string): Promise<T> {
    const result = await this.get<T>(path);
    if (result.ok) return result.body;
    throw new ProblemError(result.status, result.problem.title ?? 'Request refused', result.problem.detail);
  }
}
