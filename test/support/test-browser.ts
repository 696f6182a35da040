/**
 * A tiny browser for tests: a cookie jar per origin and manual redirects, so each hop of the sign-in
 * (gateway → provider → gateway) is a real HTTP request. Gateway URLs under the public URL are sent to
 * the test gateway's port with X-Forwarded-Proto: https, as the TLS proxy in front of it would.
 */
export interface Hop {
  url: string;
  status: number;
  location?: string;
}

export class TestBrowser {
  private readonly jars = new Map<string, Map<string, string>>();
  readonly hops: Hop[] = [];

  constructor(
    private readonly publicUrl: string,
    private readonly gatewayUrl: string,
  ) {}

  private route(url: string): { target: string; jarKey: string; viaProxy: boolean } {
    if (url.startsWith(this.publicUrl)) {
      return { target: this.gatewayUrl + url.slice(this.publicUrl.length), jarKey: this.publicUrl, viaProxy: true };
    }
    return { target: url, jarKey: new URL(url).origin, viaProxy: false };
  }

  cookie(origin: string, name: string): string | undefined {
    return this.jars.get(origin)?.get(name);
  }

  setCookie(origin: string, name: string, value: string): void {
    const jar = this.jars.get(origin) ?? new Map<string, string>();
    jar.set(name, value);
    this.jars.set(origin, jar);
  }

  /** Copies another browser's cookies for an origin (a stolen or replayed cookie). */
  cookiesOf(origin: string): Map<string, string> {
    return new Map(this.jars.get(origin) ?? []);
  }

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const { target, jarKey, viaProxy } = this.route(url);
    const jar = this.jars.get(jarKey) ?? new Map<string, string>();
    this.jars.set(jarKey, jar);
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    if (viaProxy) headers.set('x-forwarded-proto', 'https');
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /expires=Thu, 01 Jan 1970/i.test(a) || /max-age=0\b/i.test(a.trim()));
      if (!value || expired) jar.delete(name);
      else jar.set(name, value);
    }
    this.hops.push({ url, status: response.status, location: response.headers.get('location') ?? undefined });
    return response;
  }

  /** Follows redirects (at most 15), like a browser navigating; returns the last response. */
  async navigate(url: string, init: RequestInit = {}): Promise<{ response: Response; url: string }> {
    let current = url;
    for (let i = 0; i < 15; i++) {
      const response = await this.request(current, init);
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) return { response, url: current };
      await response.body?.cancel();
      current = new URL(location, current).toString();
    }
    throw new Error(`too many redirects from ${url}`);
  }
}
