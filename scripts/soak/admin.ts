/**
 * The admin API as an operator's automation uses it: a `gwk_` key, every call bounded in time and retried a bounded
 * number of times on the other replica when one does not answer (killed) or answers 5xx/503 (Redis or the
 * database down). Retries of a command enqueue reuse its commandUuid, so a retry never queues it twice.
 */
export interface AdminResult {
  status: number;
  body: unknown;
}

export class AdminClient {
  calls = 0;
  retries = 0;

  constructor(
    private readonly urls: readonly string[],
    private readonly apiKey: string,
  ) {}

  async request(method: string, path: string, body?: unknown, attempts = 8): Promise<AdminResult> {
    let last: AdminResult | undefined;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const url = this.urls[(this.calls + attempt) % this.urls.length];
      if (attempt > 0) {
        this.retries++;
        await new Promise((r) => setTimeout(r, Math.min(4_000, 250 * 2 ** attempt)));
      }
      try {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        last = { status: res.status, body: text ? safeJson(text) : undefined };
        if (res.status < 500) break;
      } catch (error) {
        lastError = error;
      }
    }
    this.calls++;
    if (!last) throw new Error(`${method} ${path}: no answer (${(lastError as Error)?.message})`);
    return last;
  }

  async expect(method: string, path: string, body: unknown, statuses: number[]): Promise<AdminResult> {
    const result = await this.request(method, path, body);
    if (!statuses.includes(result.status)) {
      throw new Error(`${method} ${path} answered ${result.status}: ${JSON.stringify(result.body).slice(0, 300)}`);
    }
    return result;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
