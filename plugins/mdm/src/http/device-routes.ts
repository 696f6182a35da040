import type Router from '@koa/router';
import { ProblemError, readRawBody } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { MdmProtocolError, parseCheckin, parseCommandReport } from '../protocol/index.js';
import type { CheckinService } from '../services/checkin-service.js';
import type { CommandService } from '../services/command-service.js';
import type { DeviceIdentityVerifier } from '../services/device-identity.js';
import type { EnrollmentService } from '../services/enrollment-service.js';

export interface DeviceRouteDeps {
  identity: DeviceIdentityVerifier;
  checkins: CheckinService;
  commands: CommandService;
  enrollments: EnrollmentService;
  maxBodyBytes: number;
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
  const body = await readRawBody(ctx, deps.maxBodyBytes);
  const signer = await deps.identity.verifySignature(ctx.get('mdm-signature') || undefined, body);
  return { body, signer };
}

/** The endpoints enrolled devices talk to: check-in, command polling, and the profile download. */
export function mountDeviceRoutes(router: Router, deps: DeviceRouteDeps): void {
  router.put('/checkin', async (ctx) => {
    const { body, signer } = await signedBody(ctx, deps);
    await deps.checkins.handle(
      parsed(() => parseCheckin(body)),
      signer,
    );
    ctx.status = 200;
    ctx.body = '';
  });

  router.put('/connect', async (ctx) => {
    const { body, signer } = await signedBody(ctx, deps);
    const report = parsed(() => parseCommandReport(body));
    if (!report.udid) throw new ProblemError(400, 'Bad request', 'User Enrollment is not supported: UDID is required');
    const device = await deps.identity.deviceForCommands(report.udid, signer);
    const { command, reportedChanged } = await deps.commands.exchange(device, report);
    if (reportedChanged) await deps.identity.rememberReported(signer, device);
    ctx.status = 200;
    if (command) {
      ctx.type = 'application/xml';
      ctx.body = command;
    } else {
      ctx.body = '';
    }
  });

  router.get('/enroll/:token', async (ctx) => {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(ctx.params.token))
      throw new ProblemError(404, 'Not found', 'unknown enrollment link');
    const { body } = await deps.enrollments.downloadProfile(ctx.params.token);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', 'attachment; filename="enrollment.mobileconfig"');
    ctx.type = 'application/x-apple-aspen-config';
    ctx.body = body;
  });
}
