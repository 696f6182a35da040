/**
 * A webhook receiver for tests, written the way a partner would write one: it checks the signature with
 * node:crypto directly (not with the plugin's own code), refuses stale timestamps, and can be told to fail.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TlsLeaf } from '../../../test/support/test-tls.js';

export interface ReceivedDelivery {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  envelope: { id: string; type: string; occurredAt: string; data: Record<string, unknown> };
  /** The HMAC matched and the timestamp was within five minutes. */
  verified: boolean;
  receivedAt: number;
  status: number;
}

type Behaviour = (delivery: Omit<ReceivedDelivery, 'status'>, seen: number) => number;

export class WebhookReceiver {
  readonly deliveries: ReceivedDelivery[] = [];
  private readonly behaviours = new Map<string, Behaviour>();

  private constructor(
    private readonly server: http.Server,
    private readonly secrets: Record<string, string>,
    readonly origin: string,
  ) {}

  /** `secrets` maps a path ("/all") to the secret its endpoint signs with. */
  static async start(secrets: Record<string, string>, tls?: TlsLeaf): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const handler: http.RequestListener = (req, res) => receiver?.handle(req, res);
    const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new WebhookReceiver(server, secrets, `${tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    return receiver;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  /** Answers with what `behaviour` returns; by default every delivery gets 204. */
  respond(path: string, behaviour: Behaviour): void {
    this.behaviours.set(path, behaviour);
  }

  /** The first `times` deliveries to `path` get `status`, the rest 204. */
  failFirst(path: string, times: number, status = 500): void {
    this.respond(path, (_delivery, seen) => (seen < times ? status : 204));
  }

  on(path: string): ReceivedDelivery[] {
    return this.deliveries.filter((delivery) => delivery.path === path);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private verify(path: string, headers: http.IncomingHttpHeaders, body: string): boolean {
    const secret = this.secrets[path];
    const timestamp = String(headers['webhook-timestamp'] ?? '');
    const signature = String(headers['webhook-signature'] ?? '');
    if (!secret || !/^\d+$/.test(timestamp) || !signature.startsWith('v1=')) return false;
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
    const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
    const given = Buffer.from(signature.slice(3), 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      const partial = {
        path,
        headers: req.headers,
        body,
        envelope: JSON.parse(body) as ReceivedDelivery['envelope'],
        verified: this.verify(path, req.headers, body),
        receivedAt: Date.now(),
      };
      const behaviour = this.behaviours.get(path);
      const status = partial.verified ? (behaviour ? behaviour(partial, this.on(path).length) : 204) : 401;
      this.deliveries.push({ ...partial, status });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 400 ? `refused with ${status}` : '');
    });
  }
}
