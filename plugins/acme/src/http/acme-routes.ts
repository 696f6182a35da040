import type Router from '@koa/router';
import type { RouterContext } from '@koa/router';
import { type GatewayContext, type GatewayState, readRawBody } from 'enrollment-gateway/sdk';
import type { Counter } from 'prom-client';
import { AcmeProblem } from '../protocol/problems.js';
import type { AcmeReply, AcmeRequest, AcmeService } from '../services/acme-service.js';

type KoaContext = RouterContext<GatewayState, GatewayContext>;

/** ACME bodies are small JWS objects (a CSR, an attestation of a few certificates). */
export const ACME_BODY_LIMIT = 64 * 1024;

function parseBody(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AcmeProblem('malformed', 'the request body is not JSON');
  }
}

function send(koa: KoaContext, reply: AcmeReply): void {
  koa.status = reply.status;
  if (reply.location) koa.set('Location', reply.location);
  if (reply.links) koa.set('Link', reply.links);
  if (reply.pem) {
    koa.type = 'application/pem-certificate-chain';
    koa.body = reply.pem;
  } else if (reply.body !== undefined) {
    koa.body = reply.body;
  } else {
    koa.body = '';
  }
}

/**
 * RFC 8555 resources under /acme. Every POST is a JWS (RFC 8555 §6.2); every answer, refusals included, carries a
 * fresh Replay-Nonce (§6.5) and a link to the directory. Refusals are ACME problem documents, counted by type.
 */
export function mountAcmeRoutes(
  router: Router<GatewayState, GatewayContext>,
  acme: AcmeService,
  refusals: Counter<'type'>,
): void {
  const index = `<${acme.base}/directory>;rel="index"`;
  const post = (
    path: (koa: KoaContext) => string,
    expect: 'jwk' | 'kid',
    handle: (request: AcmeRequest, koa: KoaContext) => Promise<AcmeReply>,
  ) => {
    return async (koa: KoaContext) => {
      try {
        const request = await acme.authenticate(parseBody(await readRawBody(koa)), path(koa), expect);
        send(koa, await handle(request, koa));
      } catch (error) {
        if (AcmeProblem.isAcme(error)) refusals.inc({ type: error.acmeType });
        throw error;
      } finally {
        koa.set('Replay-Nonce', await acme.nonce());
        koa.set('Cache-Control', 'no-store');
        koa.append('Link', index);
      }
    };
  };

  router.get('/directory', (koa) => {
    koa.body = acme.directory();
  });
  const newNonce = async (koa: KoaContext) => {
    koa.set('Replay-Nonce', await acme.nonce());
    koa.set('Cache-Control', 'no-store');
    koa.append('Link', index);
    koa.status = koa.method === 'GET' ? 204 : 200;
    koa.body = koa.method === 'GET' ? null : '';
  };
  router.head('/new-nonce', newNonce);
  router.get('/new-nonce', newNonce);

  const id = (koa: KoaContext) => String(koa.params.id ?? '');
  router.post(
    '/new-account',
    post(
      () => '/new-account',
      'jwk',
      (request) => acme.newAccount(request),
    ),
  );
  router.post(
    '/new-order',
    post(
      () => '/new-order',
      'kid',
      (request) => acme.newOrder(request),
    ),
  );
  router.post(
    '/revoke-cert',
    post(
      () => '/revoke-cert',
      'kid',
      (request) => acme.revoke(request),
    ),
  );
  router.post(
    '/order/:id',
    post(
      (koa) => `/order/${id(koa)}`,
      'kid',
      (request, koa) => acme.getOrder(request, id(koa)),
    ),
  );
  router.post(
    '/authz/:id',
    post(
      (koa) => `/authz/${id(koa)}`,
      'kid',
      (request, koa) => acme.getAuthorization(request, id(koa)),
    ),
  );
  router.post(
    '/chall/:id',
    post(
      (koa) => `/chall/${id(koa)}`,
      'kid',
      (request, koa) => acme.respondToChallenge(request, id(koa)),
    ),
  );
  router.post(
    '/finalize/:id',
    post(
      (koa) => `/finalize/${id(koa)}`,
      'kid',
      (request, koa) => acme.finalize(request, id(koa)),
    ),
  );
  router.post(
    '/cert/:id',
    post(
      (koa) => `/cert/${id(koa)}`,
      'kid',
      (request, koa) => acme.certificate(request, id(koa)),
    ),
  );
}
