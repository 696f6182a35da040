import {
  bodyLimitOf,
  type DeviceCheckinReply,
  deviceHintsFrom,
  type PluginRouter,
  ProblemError,
  parseDeviceUserAgent,
  type RateLimits,
  rateLimit,
  readRawBody,
  refuseWhenLimited,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { MdmProtocolError, parseCheckin, parseCommandReport } from '../protocol/index.js';
import type { CheckinService } from '../services/checkin-service.js';
import type { CommandService } from '../services/command-service.js';
import type { DeviceIdentityVerifier } from '../services/device-identity.js';
import type { EnrollmentService } from '../services/enrollment-service.js';
import { type MdmMetrics, outcomeOf, requestTypeOf } from './metrics.js';

export interface DeviceRouteDeps {
  identity: DeviceIdentityVerifier;
  checkins: CheckinService;
  commands: CommandService;
  enrollments: EnrollmentService;
  metrics: MdmMetrics;
  rateLimits: RateLimits;
}

/** Protocol parse errors become 400 with the parser's short reason; nothing is stored. */
function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof MdmProtocolError) throw new ProblemError(400, 'Bad request', error.message);
    throw error;
  }
}

async function signedBody(ctx: Koa.Context, deps: DeviceRouteDeps) {
  // At most the /mdm family's limit (plugins.mdm.maxDeviceBodyBytes), declared where the routes are.
  const body = await readRawBody(ctx);
  const signer = await deps.identity.verifySignature(ctx.get('mdm-signature') || undefined, body);
  // Per device identity, once it is known; a device is told 429 (or 503), never 401.
  refuseWhenLimited(await deps.rateLimits.consume('device', { key: signer.fingerprintSha256 }));
  // The plist parser's size guard is the same one limit: a body the route accepted is never too large to parse.
  return { body, signer, limits: { maxBytes: bodyLimitOf(ctx) } };
}

/** The endpoints enrolled devices talk to: check-in, command polling, and the profile download. */
export function mountDeviceRoutes(router: PluginRouter, deps: DeviceRouteDeps): void {
  const perClient = rateLimit(deps, 'device');
  router.put('/checkin', perClient, async (ctx) => {
    let messageType = 'unparsed';
    let reply: DeviceCheckinReply | undefined;
    try {
      const { body, signer, limits } = await signedBody(ctx, deps);
      const message = parsed(() => parseCheckin(body, limits));
      // A type a plugin handles keeps its name; anything else a device invents stays 'Unknown' (bounded labels).
      messageType =
        message.messageType === 'Unknown' && deps.checkins.handledElsewhere(message.unknownMessageType)
          ? message.unknownMessageType
          : message.messageType;
      reply = await deps.checkins.handle(message, signer);
    } catch (error) {
      deps.metrics.checkins.inc({ message_type: messageType, outcome: outcomeOf(error) });
      throw error;
    }
    deps.metrics.checkins.inc({ message_type: messageType, outcome: 'accepted' });
    ctx.status = 200;
    if (reply?.body) ctx.type = reply.contentType ?? 'application/octet-stream';
    ctx.body = reply?.body ?? '';
  });

  router.put('/connect', perClient, async (ctx) => {
    const { body, signer, limits } = await signedBody(ctx, deps);
    const report = parsed(() => parseCommandReport(body, limits));
    // UDID, or for a User Enrollment the EnrollmentID: the key Authenticate stored the device under.
    const device = await deps.identity.deviceForCommands(report.deviceId, signer);
    const { command, reportedChanged } = await deps.commands.exchange(device, report);
    if (reportedChanged) await deps.identity.rememberReported(signer, device);
    ctx.status = 200;
    if (command) {
      deps.metrics.commandsDelivered.inc({ request_type: requestTypeOf(command) });
      ctx.type = 'application/xml';
      ctx.body = command;
    } else {
      ctx.body = '';
    }
  });

  // Per client and per link: a guessed or leaked link is tried a few times a window at most.
  router.get('/enroll/:token', rateLimit(deps, 'enrollmentLink', { key: (koa) => koa.params.token }), async (ctx) => {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(ctx.params.token))
      throw new ProblemError(404, 'Not found', 'unknown enrollment link');
    // Which identity payload fits (ACME needs iOS 16) is decided per device, from the downloading Safari.
    const device = parseDeviceUserAgent(ctx.get('user-agent'), deviceHintsFrom(ctx.query, ctx.get('cookie')));
    const { body } = await deps.enrollments.downloadProfile(ctx.params.token, device);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', 'attachment; filename="enrollment.mobileconfig"');
    ctx.type = 'application/x-apple-aspen-config';
    ctx.body = body;
  });
}
