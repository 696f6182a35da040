/**
 * The preview's https front: a throwaway CA (kept in .cache/preview-ca, like the test CA), a leaf for localhost,
 * and a TLS proxy that forwards to the gateway with X-Forwarded-Proto: https (as the production proxy does). The
 * proxy also answers the preview's own routes (POST /preview/simulate) before anything reaches the gateway.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import path from 'node:path';
import { ensureSelfSignedCa } from '../lib/self-signed-ca.js';

export function ensurePreviewCa(root: string): string {
  return ensureSelfSignedCa(path.join(root, '.cache', 'preview-ca'), 'Enrollment Gateway Preview CA');
}

/** base64 SHA-256 of a certificate's public key: Chromium's --ignore-certificate-errors-spki-list takes these. */
export function spkiHash(certPem: string): string {
  const key = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(key).digest('base64');
}

export type PreviewRoute = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export async function startTlsFront(options: {
  port: number;
  cert: string;
  key: string;
  target: string;
  routes: PreviewRoute;
}): Promise<Server> {
  const upstream = new URL(options.target);
  const server = createServer({ cert: options.cert, key: options.key }, (req, res) => {
    options.routes(req, res).then(
      (handled) => {
        if (handled) return;
        const forward = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, 'x-forwarded-proto': 'https' },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => res.destroy());
        res.on('close', () => forward.destroy());
        req.pipe(forward);
      },
      (error: Error) => {
        res.statusCode = 500;
        res.end(`preview: ${error.message}`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  return server;
}
