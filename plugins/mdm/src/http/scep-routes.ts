import type Router from '@koa/router';
import { ProblemError, readRawBody } from 'enrollment-gateway/sdk';
import { getCACapsResponse, getCACertResponse } from '../pki/index.js';
import type { PkiService } from '../services/pki-service.js';
import type { ScepService } from '../services/scep-service.js';

const MAX_PKI_MESSAGE = 64 * 1024;

/** SCEP (RFC 8894) at /scep: GetCACaps, GetCACert, and PKIOperation by POST or GET. */
export function mountScepRoutes(router: Router, deps: { pki: PkiService; scep: ScepService }): void {
  const pkiOperation = async (der: Buffer) => deps.scep.pkiOperation(der);

  router.get('/', async (ctx) => {
    const operation = String(ctx.query.operation ?? '');
    if (operation === 'GetCACaps') {
      const caps = getCACapsResponse();
      ctx.type = caps.contentType;
      ctx.body = caps.body;
    } else if (operation === 'GetCACert') {
      const cert = getCACertResponse((await deps.pki.get()).ca);
      ctx.type = cert.contentType;
      ctx.body = cert.body;
    } else if (operation === 'PKIOperation') {
      const message = String(ctx.query.message ?? '');
      if (!message || message.length > (MAX_PKI_MESSAGE * 4) / 3)
        throw new ProblemError(400, 'Bad request', 'missing or oversized message');
      ctx.type = 'application/x-pki-message';
      ctx.body = await pkiOperation(Buffer.from(message, 'base64'));
    } else {
      throw new ProblemError(400, 'Bad request', `unsupported SCEP operation "${operation}"`);
    }
  });

  router.post('/', async (ctx) => {
    if (ctx.query.operation !== 'PKIOperation')
      throw new ProblemError(400, 'Bad request', 'POST supports operation=PKIOperation only');
    const der = await readRawBody(ctx, MAX_PKI_MESSAGE);
    ctx.type = 'application/x-pki-message';
    ctx.body = await pkiOperation(der);
  });
}
