import {
  type PluginRouter,
  ProblemError,
  type RateLimits,
  rateLimit,
  readRawBody,
  refuseWhenLimited,
} from 'enrollment-gateway/sdk';
import { certificateFingerprintSha256, getCACapsResponse, getCACertResponse } from '../pki/index.js';
import type { PkiService } from '../services/pki-service.js';
import type { ScepService } from '../services/scep-service.js';
import { type MdmMetrics, scepRefusalReason } from './metrics.js';

/** The /scep family's body limit (declared with its routes in index.ts). */
export const MAX_PKI_MESSAGE = 64 * 1024;

/** SCEP (RFC 8894) at /scep: GetCACaps, GetCACert, and PKIOperation by POST or GET. */
export function mountScepRoutes(
  router: PluginRouter,
  deps: { pki: PkiService; scep: ScepService; metrics: MdmMetrics; rateLimits: RateLimits },
): void {
  const pkiOperation = async (der: Buffer) => {
    try {
      const { reply, refused } = await deps.scep.pkiOperation(der, {
        // One signer key (a device's new key, or its identity when renewing) gets a few tries a window.
        beforePrivateKeyWork: async (message) =>
          refuseWhenLimited(
            await deps.rateLimits.consume('scep', { key: certificateFingerprintSha256(message.replyTo.signerCertDer) }),
          ),
      });
      if (refused) deps.metrics.scepRefused.inc({ reason: refused });
      else deps.metrics.scepIssued.inc();
      return reply;
    } catch (error) {
      deps.metrics.scepRefused.inc({ reason: scepRefusalReason(error) });
      throw error;
    }
  };

  // Per client, before anything is read: PKIOperation is the one SCEP request that costs CA key work.
  const limited = rateLimit(deps, 'scep');
  router.get('/', async (ctx, next) => {
    if (ctx.query.operation === 'PKIOperation') return limited(ctx, next);
    return next();
  });
  router.post('/', limited);
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
    const der = await readRawBody(ctx);
    ctx.type = 'application/x-pki-message';
    ctx.body = await pkiOperation(der);
  });
}
