import {
  adminApi,
  adminPrincipal,
  auditAdminAction,
  type PluginContext,
  type PluginRouter,
  ProblemError,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { z } from 'zod';
import { PushCertificateError } from '../cert/index.js';
import { type CertificateView, type PushCertificateService, viewOf } from './certificate-service.js';
import type { PushOutcomeStore } from './outcome-storage.js';
import type { PushHealth } from './push-health.js';
import type { PushControl } from './wake-ledger.js';

const MAX_UPLOAD_BYTES = 1_048_576;
const pem = z.string().min(1).max(200_000);

const csrBody = z.object({
  commonName: z.string().min(1).max(64).default('Enrollment Gateway MDM push'),
  organization: z.string().min(1).max(64).default('Enrollment Gateway'),
  email: z.email().optional(),
  country: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional(),
});

const vendorSignBody = z.object({
  /** Defaults to the newest CSR generated here. */
  csrPem: pem.optional(),
  vendorCertPem: pem,
  vendorKeyPem: pem,
  vendorChainPems: z.array(pem).max(5).optional(),
});

const certificateBody = z
  .object({
    pem: pem.optional(),
    p12Base64: z.string().min(1).max(700_000).optional(),
    password: z.string().max(1000).optional(),
    replaceTopic: z.boolean().default(false),
  })
  .refine((body) => (body.pem === undefined) !== (body.p12Base64 === undefined), {
    message: 'send exactly one of pem or p12Base64',
  });

export interface CertificateRouteDeps {
  certificates: PushCertificateService;
  control: PushControl;
  health: PushHealth;
  outcomes: PushOutcomeStore;
  /** After a certificate is installed: resume sending, tell every worker, refresh the gauge. */
  installed(view: CertificateView): Promise<void>;
}

function refused(error: PushCertificateError): ProblemError {
  const status = error.reason === 'topic-changed' ? 409 : 400;
  return new ProblemError(status, 'Push certificate refused', error.message, {
    type: `urn:enrollment-gateway:apns:${error.reason}`,
    extensions: { reason: error.reason },
  });
}

async function audit(
  ctx: PluginContext<unknown>,
  koa: Koa.Context,
  entry: { action: string; id: string; before?: unknown; after?: unknown },
): Promise<void> {
  await auditAdminAction(ctx, koa, entry.action, { type: 'apns-certificate', id: entry.id }, entry);
}

function decodeP12(base64: string): Buffer {
  if (!/^[A-Za-z0-9+/=\s]+$/.test(base64)) {
    throw refused(new PushCertificateError('unsupported-file', 'p12Base64 is not base64'));
  }
  return Buffer.from(base64, 'base64');
}

const warningSchema = z.object({ threshold: z.number(), level: z.string(), message: z.string() });
const certificateViewSchema = z.object({
  id: z.string(),
  topic: z.string().describe('The APNs topic (com.apple.mgmt.External.<uuid>); devices are bound to it'),
  notBefore: z.string(),
  notAfter: z.string(),
  daysLeft: z.number().int(),
  expired: z.boolean(),
  serial: z.string(),
  fingerprint: z.string(),
  environments: z.array(z.string()),
  installedAt: z.string(),
  warnings: z.array(warningSchema),
});
const sendingSchema = z.object({ paused: z.boolean(), reason: z.string().optional(), since: z.unknown().optional() });
const healthSchema = z
  .object({
    problems: z.array(
      z.object({
        kind: z.enum(['not-installed', 'expired', 'expiring', 'self-signed', 'paused', 'failing', 'wrong-topic']),
        level: z.enum(['warning', 'critical']),
        message: z.string(),
      }),
    ),
    recent: z.object({
      windowMinutes: z.number().int(),
      sent: z.number().int(),
      failed: z.record(z.string(), z.number().int()).describe('Failed pushes by reason'),
      lastFailure: z
        .object({ reason: z.string(), detail: z.string().optional(), deviceId: z.string(), at: z.string() })
        .optional(),
    }),
  })
  .describe('Push delivery health: certificate problems, sending paused, and the recent outcomes of every worker');
const devicePushSchema = z.object({
  deviceId: z.string(),
  last: z
    .object({
      result: z.enum(['sent', 'failed']),
      reason: z.string().optional().describe('invalid-token, certificate, throttled, retryable, rejected, …'),
      detail: z.string().optional().describe("APNs's reason (Unregistered, TooManyRequests …) or ours"),
      status: z.number().int().optional().describe('HTTP status APNs answered'),
      at: z.string(),
    })
    .optional()
    .describe('Absent when the gateway never tried to push this device'),
  lastSentAt: z.string().optional(),
});
const REFUSED = { description: 'Refused: not a push certificate, wrong password, expired … (`reason` says which)' };

/** Admin API under /api/apns: the push certificate lifecycle. */
export function mountCertificateRoutes(
  router: PluginRouter,
  ctx: PluginContext<unknown>,
  deps: CertificateRouteDeps,
): void {
  const { certificates, control } = deps;
  const api = adminApi(router, ctx, { tags: ['push-certificate'] });

  api.post(
    '/csr',
    {
      scope: 'apns:write',
      summary: 'Generate a certificate signing request (the private key stays on the gateway, sealed)',
      body: csrBody,
      responses: {
        201: { description: 'The CSR', schema: z.object({ id: z.string(), csrPem: z.string(), next: z.string() }) },
      },
    },
    async (koa, { body }) => {
      const principal = adminPrincipal(koa);
      const { id, csrPem } = await certificates.createCsr(body, principal.id);
      await audit(ctx, koa, { action: 'apns.csr.create', id, after: { subject: body } });
      koa.status = 201;
      koa.body = {
        id,
        csrPem,
        next: "Upload this CSR to your MDM vendor (or sign it with POST /api/apns/csr/vendor-sign), then upload the request file to Apple's Push Certificates Portal",
      };
    },
  );

  api.post(
    '/csr/vendor-sign',
    {
      scope: 'apns:write',
      summary: "Sign the CSR with an MDM vendor certificate: the request file for Apple's portal",
      body: vendorSignBody,
      bodyLimit: MAX_UPLOAD_BYTES,
      responses: {
        200: { description: 'The request file', schema: z.object({ requestFile: z.string(), fileName: z.string() }) },
        400: REFUSED,
        409: { description: 'No CSR was generated and none was sent' },
      },
    },
    async (koa, { body }) => {
      const csrPem = body.csrPem ?? (await certificates.latestPendingCsr());
      if (!csrPem) throw new ProblemError(409, 'No CSR', 'generate a CSR first (POST /api/apns/csr) or send csrPem');
      let requestFile: string;
      try {
        requestFile = certificates.vendorSign({ ...body, csrPem });
      } catch (error) {
        if (error instanceof PushCertificateError) throw refused(error);
        throw error;
      }
      await audit(ctx, koa, { action: 'apns.csr.vendor-sign', id: 'vendor-request' });
      koa.body = { requestFile, fileName: 'PushCertificateRequest.plist.b64' };
    },
  );

  api.post(
    '/certificate',
    {
      scope: 'apns:write',
      summary: 'Upload the push certificate Apple issued (PEM, or .p12 as base64); renewals keep the topic',
      body: certificateBody,
      bodyLimit: MAX_UPLOAD_BYTES,
      responses: {
        201: {
          description: 'Installed',
          schema: z.object({
            certificate: certificateViewSchema,
            renewed: z.boolean(),
            topicChanged: z.boolean(),
            warnings: z.array(z.string()),
          }),
        },
        400: REFUSED,
        409: {
          description: 'The topic differs from the current one; send replaceTopic: true to accept orphaning devices',
        },
      },
    },
    async (koa, { body }) => {
      const principal = adminPrincipal(koa);
      let result: Awaited<ReturnType<PushCertificateService['install']>>;
      try {
        result = await certificates.install(
          { pem: body.pem, p12: body.p12Base64 ? decodeP12(body.p12Base64) : undefined, password: body.password },
          { replaceTopic: body.replaceTopic, by: principal.id },
        );
      } catch (error) {
        if (error instanceof PushCertificateError) throw refused(error);
        throw error;
      }
      const { certificate, previous, topicChanged } = result;
      await deps.installed(certificate);
      await audit(ctx, koa, {
        action: topicChanged ? 'apns.certificate.replace-topic' : 'apns.certificate.install',
        id: certificate.id,
        before: previous,
        after: { topic: certificate.topic, fingerprint: certificate.fingerprint, notAfter: certificate.notAfter },
      });
      koa.status = 201;
      koa.body = {
        certificate,
        renewed: previous !== undefined && !topicChanged,
        topicChanged,
        warnings: topicChanged
          ? [
              `the push topic changed from ${previous?.topic} to ${certificate.topic}: devices enrolled under the old topic are orphaned and cannot be woken; they must re-enroll`,
            ]
          : [],
      };
    },
  );

  api.get(
    '/certificate',
    {
      scope: 'apns:read',
      summary: 'The installed push certificate: topic, expiry, warnings, and whether sending is paused',
      responses: {
        200: {
          description: 'Installed (installed: true, with the certificate) or not (installed: false)',
          schema: z.union([
            certificateViewSchema.extend({ installed: z.literal(true), sending: sendingSchema, health: healthSchema }),
            z.object({
              installed: z.literal(false),
              pendingCsr: z.boolean(),
              sending: sendingSchema,
              warnings: z.array(warningSchema),
              health: healthSchema,
            }),
          ]),
        },
      },
    },
    async (koa) => {
      const [doc, paused, health] = await Promise.all([
        certificates.activeDoc(),
        control.paused(),
        deps.health.health(),
      ]);
      const sending = paused ? { paused: true, reason: paused.reason, since: paused.at } : { paused: false };
      if (!doc) {
        koa.body = {
          installed: false,
          pendingCsr: (await certificates.latestPendingCsr()) !== undefined,
          sending,
          warnings: [{ threshold: 0, level: 'critical', message: 'no Apple MDM push certificate is installed' }],
          health,
        };
        return;
      }
      koa.body = { installed: true, ...viewOf(doc), sending, health };
    },
  );

  api.get(
    '/devices/:deviceId/push',
    {
      scope: 'devices:read',
      summary: "One device's last push: sent, or failed with the reason (what the admin device page shows)",
      params: z.object({ deviceId: z.string().min(1).max(64) }),
      responses: { 200: { description: 'The last push outcome', schema: devicePushSchema } },
    },
    async (koa, { params }) => {
      const doc = await deps.outcomes.get(params.deviceId);
      koa.body = {
        deviceId: params.deviceId,
        ...(doc
          ? {
              last: {
                result: doc.result,
                ...(doc.reason ? { reason: doc.reason } : {}),
                ...(doc.detail ? { detail: doc.detail } : {}),
                ...(typeof doc.status === 'number' ? { status: doc.status } : {}),
                at: doc.at.toISOString(),
              },
              ...(doc.lastSentAt ? { lastSentAt: doc.lastSentAt.toISOString() } : {}),
            }
          : {}),
      };
    },
  );
}
